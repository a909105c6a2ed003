//! Downstream: an IPv4 packet larger than its subscriber can take, with
//! Don't Fragment clear, leaves as fragments (RFC 791 §2.3, and §3.2 "An
//! Example Fragmentation Procedure"), not as an ICMP error nobody asked
//! for: the sender allowed routers to fragment, and Linux's own echo
//! replies, for one, are sent that way.
//!
//! [`plan`] reads the packet once and decides the cut; the worker then
//! rewrites the packet itself into the first fragment
//! ([`Plan::first_in_place`]) and copies each later one into a frame of
//! its own ([`Plan::write`]). Each fragment's data is a multiple of 8
//! bytes except the last one's; all keep the Identification; all but the
//! last have More Fragments set, and the last keeps the original's MF (the
//! packet may itself be a fragment, whose offset is carried on); each
//! header checksum is recomputed. The first fragment keeps every option,
//! the later ones only those with the copied flag (RFC 791 §3.1, "Options").

use super::drop::Drop;
use crate::wire::checksum;

/// The longest IPv4 header (IHL 15).
pub const MAX_HEADER: usize = 60;

/// How a packet is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The header of every fragment after the first: the original's with
    /// only the copied options, padded to a 32-bit boundary.
    rest: [u8; MAX_HEADER],
    rest_len: u8,
    /// The original's header length.
    hl: u8,
    /// The original's data (payload) length.
    data: u16,
    /// Data bytes in the first fragment.
    first_data: u16,
    /// Data bytes in each later fragment but the last.
    rest_data: u16,
    /// The original's fragment offset, in bytes.
    offset: u16,
    /// The original's More Fragments flag.
    more: bool,
    count: u16,
}

const MF: u16 = 0x2000;
/// The reserved flag bit, kept as it came (DF is clear, MF is ours).
const RESERVED: u16 = 0x8000;

/// The copied options of a header's option area (`options`: the bytes
/// after the fixed 20), written to `out`; returns how many bytes they
/// took, unpadded.
fn copied_options(options: &[u8], out: &mut [u8]) -> Result<usize, Drop> {
    let (mut i, mut n) = (0, 0);
    while i < options.len() {
        match options[i] {
            // End of Option List: the rest is padding.
            0 => break,
            // No Operation: one octet, copied flag clear.
            1 => i += 1,
            kind => {
                let len = usize::from(*options.get(i + 1).ok_or(Drop::BadIpHeader)?);
                if len < 2 || i + len > options.len() {
                    return Err(Drop::BadIpHeader);
                }
                if kind & 0x80 != 0 {
                    out[n..n + len].copy_from_slice(&options[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    Ok(n)
}

/// Plans fragments of at most `limit` bytes for the IPv4 packet at the
/// start of `pkt` (link padding may follow it). The caller has checked
/// that the packet is too big and that Don't Fragment is clear.
pub fn plan(pkt: &[u8], limit: usize) -> Result<Plan, Drop> {
    let h = pkt.get(..20).ok_or(Drop::Truncated)?;
    let hl = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if h[0] >> 4 != 4 || hl < 20 || total < hl {
        return Err(Drop::BadIpHeader);
    }
    if total > pkt.len() {
        return Err(Drop::Truncated);
    }
    let flags = u16::from_be_bytes([h[6], h[7]]);
    let mut rest = [0u8; MAX_HEADER];
    rest[..20].copy_from_slice(h);
    let opts = copied_options(&pkt[20..hl], &mut rest[20..])?;
    // Zeros after the copied options are End of Option List and padding.
    let rest_len = 20 + opts.div_ceil(4) * 4;
    rest[0] = 0x40 | (rest_len / 4) as u8;
    // Each fragment but the last carries a multiple of 8 data bytes
    // (offsets count 8-byte blocks), and needs at least one block.
    let first_data = limit.saturating_sub(hl) / 8 * 8;
    let rest_data = limit.saturating_sub(rest_len) / 8 * 8;
    if first_data == 0 {
        return Err(Drop::TooBig);
    }
    let data = total - hl;
    let offset = usize::from(flags & 0x1fff) * 8;
    // RFC 791 §3.1: no datagram, reassembled, is longer than 65,535.
    if offset + data > 65_535 - hl {
        return Err(Drop::BadIpHeader);
    }
    let count = 1 + (data.saturating_sub(first_data)).div_ceil(rest_data);
    Ok(Plan {
        rest,
        rest_len: rest_len as u8,
        hl: hl as u8,
        data: data as u16,
        first_data: first_data.min(data) as u16,
        rest_data: rest_data as u16,
        offset: offset as u16,
        more: flags & MF != 0,
        count: count as u16,
    })
}

/// Writes total length, flags and offset into `h` (a header of its final
/// length) and its checksum.
fn finish(h: &mut [u8], len: usize, offset: usize, more: bool) {
    let flags = u16::from_be_bytes([h[6], h[7]]) & RESERVED;
    let frag = flags | if more { MF } else { 0 } | (offset / 8) as u16;
    h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[10..12].copy_from_slice(&[0, 0]);
    let c = !checksum::sum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

impl Plan {
    /// How many fragments the packet becomes.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// The original's header length: fragment data is taken from
    /// `pkt[header_len()..]`.
    pub fn header_len(&self) -> usize {
        usize::from(self.hl)
    }

    /// Rewrites the original packet at `pkt` into the first fragment (its
    /// header, all options kept; the data after it is left where it is, so
    /// the later fragments can still be copied from it). Returns its
    /// length.
    pub fn first_in_place(&self, pkt: &mut [u8]) -> usize {
        let hl = usize::from(self.hl);
        let data = usize::from(self.first_data);
        let more = self.count > 1 || self.more;
        finish(&mut pkt[..hl], hl + data, usize::from(self.offset), more);
        hl + data
    }

    /// Writes fragment `i` (from 1) to the start of `out`, its data taken
    /// from `payload` (the original's data: what follows its header).
    /// Returns its length.
    pub fn write(&self, i: usize, payload: &[u8], out: &mut [u8]) -> Result<usize, Drop> {
        if i == 0 || i >= self.count() {
            return Err(Drop::Truncated);
        }
        let first = usize::from(self.first_data);
        let step = usize::from(self.rest_data);
        let at = first + (i - 1) * step;
        let len = step.min(usize::from(self.data) - at);
        let src = payload.get(at..at + len).ok_or(Drop::Truncated)?;
        let hl = usize::from(self.rest_len);
        let out = out.get_mut(..hl + len).ok_or(Drop::NoHeadroom)?;
        out[..hl].copy_from_slice(&self.rest[..hl]);
        out[hl..].copy_from_slice(src);
        let last = i + 1 == self.count();
        let more = !last || self.more;
        finish(
            &mut out[..hl],
            hl + len,
            usize::from(self.offset) + at,
            more,
        );
        Ok(hl + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv4Packet;

    /// An IPv4 packet of `total` bytes with `options` (already padded) and
    /// the given flags-and-offset word.
    fn packet(total: usize, options: &[u8], frag: u16) -> Vec<u8> {
        let hl = 20 + options.len();
        let mut p = vec![
            0x40 | (hl / 4) as u8,
            0xb8,
            0,
            0,
            0xbe,
            0xef,
            0,
            0,
            57,
            17,
            0,
            0,
        ];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p.extend([203, 0, 113, 9, 100, 64, 0, 10]);
        p.extend(options);
        p.extend((hl..total).map(|i| (i * 7 + i / 256) as u8));
        let c = !checksum::sum(&p[..hl]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    /// Every fragment of `pkt` cut for `limit`.
    fn cut(pkt: &[u8], limit: usize) -> Vec<Vec<u8>> {
        let p = plan(pkt, limit).unwrap();
        let mut first = pkt.to_vec();
        let n = p.first_in_place(&mut first);
        first.truncate(n);
        let mut v = vec![first];
        for i in 1..p.count() {
            let mut out = vec![0u8; 2048];
            let n = p.write(i, &pkt[p.header_len()..], &mut out).unwrap();
            out.truncate(n);
            v.push(out);
        }
        v
    }

    /// A receiver's reassembly (RFC 791 §3.2, "An Example Reassembly
    /// Procedure"), checking each fragment on the way; returns the packet
    /// as the sender had it, header from the first fragment with its
    /// length and flags restored.
    fn reassemble(frags: &[Vec<u8>], limit: usize) -> Vec<u8> {
        let first = Ipv4Packet::new_checked(&frags[0][..]).unwrap();
        let mut data = Vec::new();
        let mut base = None;
        let mut last_more = false;
        for (i, f) in frags.iter().enumerate() {
            let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(ip.verify_checksum(), "fragment {i}: checksum");
            assert!(f.len() <= limit, "fragment {i}: {} > {limit}", f.len());
            assert_eq!(ip.ident(), first.ident(), "fragment {i}: ident");
            assert!(!ip.dont_frag());
            assert_eq!(&f[12..20], &frags[0][12..20]);
            assert_eq!((f[1], f[8], f[9]), (frags[0][1], frags[0][8], frags[0][9]));
            let off = usize::from(ip.frag_offset());
            let base = *base.get_or_insert(off);
            assert_eq!(off - base, data.len(), "fragment {i}: contiguous");
            if i + 1 < frags.len() {
                assert!(ip.more_frags(), "fragment {i}: MF");
                assert_eq!(ip.payload().len() % 8, 0, "fragment {i}: 8-byte blocks");
            }
            last_more = ip.more_frags();
            data.extend_from_slice(ip.payload());
        }
        let hl = first.header_len();
        let mut p = frags[0][..hl].to_vec();
        p[2..4].copy_from_slice(&((hl + data.len()) as u16).to_be_bytes());
        let frag = (u16::from_be_bytes([p[6], p[7]]) & !MF) | if last_more { MF } else { 0 };
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = !checksum::sum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend(data);
        p
    }

    #[test]
    fn reassembles_byte_for_byte() {
        for (total, limit, count) in [
            (1500, 1400, 2),
            (1500, 1462, 2),
            (1500, 576, 3),
            (1500, 68, 31),
            (1401, 1400, 2),
            (100, 59, 3),
            // Data that ends on a block boundary: no empty last fragment.
            (20 + 2 * 1376, 1400, 2),
        ] {
            let pkt = packet(total, &[], 0);
            let frags = cut(&pkt, limit);
            assert_eq!(frags.len(), count, "{total} for {limit}");
            assert_eq!(reassemble(&frags, limit), pkt, "{total} for {limit}");
        }
    }

    #[test]
    fn first_fragment_is_byte_exact() {
        let pkt = packet(1500, &[], 0);
        let frags = cut(&pkt, 1400);
        // 1376 data bytes (172 blocks of 8), MF, offset 0.
        let mut want = pkt[..20 + 1376].to_vec();
        want[2..4].copy_from_slice(&1396u16.to_be_bytes());
        want[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
        want[10..12].copy_from_slice(&[0, 0]);
        let c = !checksum::sum(&want[..20]);
        want[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(frags[0], want);
        // The second: offset 172 blocks, no MF, the last 104 bytes.
        let mut want = pkt[..20].to_vec();
        want.extend_from_slice(&pkt[20 + 1376..]);
        want[2..4].copy_from_slice(&124u16.to_be_bytes());
        want[6..8].copy_from_slice(&172u16.to_be_bytes());
        want[10..12].copy_from_slice(&[0, 0]);
        let c = !checksum::sum(&want[..20]);
        want[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(frags[1], want);
    }

    #[test]
    fn a_fragment_is_fragmented_further() {
        // The middle of a larger datagram: offset 185 blocks, MF set.
        let pkt = packet(1500, &[], 0x2000 | 185);
        let frags = cut(&pkt, 600);
        assert_eq!(frags.len(), 3);
        let last = Ipv4Packet::new_checked(&frags[2][..]).unwrap();
        assert!(
            last.more_frags(),
            "the original's MF stays on its last piece"
        );
        assert_eq!(
            Ipv4Packet::new_checked(&frags[1][..])
                .unwrap()
                .frag_offset(),
            (185 + 72) * 8
        );
        assert_eq!(reassemble(&frags, 600), pkt);
        // The end of a datagram: its last piece has no MF.
        let pkt = packet(1000, &[], 100);
        let frags = cut(&pkt, 400);
        assert!(!Ipv4Packet::new_checked(&frags[2][..]).unwrap().more_frags());
        assert_eq!(reassemble(&frags, 400), pkt);
    }

    #[test]
    fn only_copied_options_follow_the_first_fragment() {
        // NOP; Security (130, copied, 11 bytes); Record Route (7, not
        // copied, 7 bytes); Stream ID (136, copied, 4 bytes); EOL; pad.
        let mut opts = vec![1];
        opts.extend([130, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        opts.extend([7, 7, 4, 0, 0, 0, 0]);
        opts.extend([136, 4, 0x12, 0x34]);
        opts.extend([0; 5]);
        assert_eq!(opts.len(), 28);
        let pkt = packet(1000, &opts, 0);
        let frags = cut(&pkt, 400);
        // First: every option (48-byte header).
        assert_eq!(
            &frags[0][..48],
            &{
                let mut h = pkt[..48].to_vec();
                h[2..4].copy_from_slice(&(frags[0].len() as u16).to_be_bytes());
                h[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
                h[10..12].copy_from_slice(&frags[0][10..12]);
                h
            }[..]
        );
        // The rest: Security and Stream ID, 15 bytes, padded to 16.
        for f in &frags[1..] {
            assert_eq!(f[0], 0x49);
            assert_eq!(&f[20..35], &[&opts[1..12], &opts[19..23]].concat()[..]);
            assert_eq!(f[35], 0);
        }
        let mut data = Vec::new();
        for f in &frags {
            let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(usize::from(ip.frag_offset()), data.len());
            data.extend_from_slice(ip.payload());
        }
        assert_eq!(data, &pkt[48..]);
        // Later fragments fit more data: their header is 12 bytes shorter.
        assert_eq!(frags[0].len() - 48, 352);
        assert_eq!(frags[1].len() - 36, 360);
    }

    #[test]
    fn refusals_are_named() {
        // Not even one block of data fits.
        assert_eq!(plan(&packet(100, &[], 0), 27), Err(Drop::TooBig));
        // An option running past the header.
        let bad = packet(100, &[130, 9, 0, 0], 0);
        assert_eq!(plan(&bad, 60), Err(Drop::BadIpHeader));
        // A length byte cut off by the header's end.
        assert_eq!(
            plan(&packet(100, &[1, 1, 1, 68], 0), 60),
            Err(Drop::BadIpHeader)
        );
        // Shorter than it claims.
        let p = packet(100, &[], 0);
        assert_eq!(plan(&p[..99], 60), Err(Drop::Truncated));
        assert_eq!(plan(&p[..10], 60), Err(Drop::Truncated));
        for n in 0..p.len() {
            let _ = plan(&p[..n], 60);
        }
        let plan = plan(&p, 60).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(plan.write(0, &p[20..], &mut out), Err(Drop::Truncated));
        assert_eq!(plan.write(3, &p[20..], &mut out), Err(Drop::Truncated));
        assert_eq!(plan.write(1, &p[20..50], &mut out), Err(Drop::Truncated));
        assert_eq!(
            plan.write(1, &p[20..], &mut out[..30]),
            Err(Drop::NoHeadroom)
        );
    }
}
