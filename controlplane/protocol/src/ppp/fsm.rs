//! The RFC 1661 option-negotiation automaton (§4): states, events and
//! actions with the RFC's names, and the state transition table of §4.1 as
//! one `match`.
//!
//! [`transition`] is the table and nothing else: given a state and an
//! event it returns the actions to run, in order, and the next state, or
//! `None` for the table's "-" (an event that cannot happen in that state;
//! callers ignore it). The optional behaviours marked in the table are not
//! taken: no restart on Open ([r]), no passive mode ([p]); the crossed
//! connection rule ([x]) is the table's default. One test checks every one
//! of the 160 cells against a transcription of the RFC's table.
//!
//! LCP, IPCP and IPv6CP all run this table; what differs between them
//! (options, codes) lives in their own modules.

/// Automaton states (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "RFC 1661 §4.2 names, numbered as in §4.1")]
pub enum State {
    Initial = 0,
    Starting = 1,
    Closed = 2,
    Stopped = 3,
    Closing = 4,
    Stopping = 5,
    ReqSent = 6,
    AckRcvd = 7,
    AckSent = 8,
    Opened = 9,
}

impl State {
    /// Every state, by number.
    pub const ALL: [State; 10] = [
        State::Initial,
        State::Starting,
        State::Closed,
        State::Stopped,
        State::Closing,
        State::Stopping,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ];

    /// The RFC's name.
    pub fn name(self) -> &'static str {
        match self {
            State::Initial => "Initial",
            State::Starting => "Starting",
            State::Closed => "Closed",
            State::Stopped => "Stopped",
            State::Closing => "Closing",
            State::Stopping => "Stopping",
            State::ReqSent => "Req-Sent",
            State::AckRcvd => "Ack-Rcvd",
            State::AckSent => "Ack-Sent",
            State::Opened => "Opened",
        }
    }

    /// States in which the Restart timer runs (those with TO events).
    pub fn timer_runs(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }
}

/// Events (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Up: the lower layer is ready.
    Up,
    /// Down: the lower layer is gone.
    Down,
    /// Open: administrative open.
    Open,
    /// Close: administrative close.
    Close,
    /// TO+: Restart timer expired, counter still positive.
    TimeoutPlus,
    /// TO-: Restart timer expired, counter exhausted.
    TimeoutMinus,
    /// RCR+: good Configure-Request received.
    RcrPlus,
    /// RCR-: bad Configure-Request received.
    RcrMinus,
    /// RCA: Configure-Ack received.
    Rca,
    /// RCN: Configure-Nak or Configure-Reject received.
    Rcn,
    /// RTR: Terminate-Request received.
    Rtr,
    /// RTA: Terminate-Ack received.
    Rta,
    /// RUC: unknown code received.
    Ruc,
    /// RXJ+: permitted Code-Reject or Protocol-Reject received.
    RxjPlus,
    /// RXJ-: catastrophic Code-Reject or Protocol-Reject received.
    RxjMinus,
    /// RXR: Echo-Request, Echo-Reply or Discard-Request received.
    Rxr,
}

impl Event {
    /// Every event, in §4.1's row order.
    pub const ALL: [Event; 16] = [
        Event::Up,
        Event::Down,
        Event::Open,
        Event::Close,
        Event::TimeoutPlus,
        Event::TimeoutMinus,
        Event::RcrPlus,
        Event::RcrMinus,
        Event::Rca,
        Event::Rcn,
        Event::Rtr,
        Event::Rta,
        Event::Ruc,
        Event::RxjPlus,
        Event::RxjMinus,
        Event::Rxr,
    ];

    /// The RFC's name.
    pub fn name(self) -> &'static str {
        match self {
            Event::Up => "Up",
            Event::Down => "Down",
            Event::Open => "Open",
            Event::Close => "Close",
            Event::TimeoutPlus => "TO+",
            Event::TimeoutMinus => "TO-",
            Event::RcrPlus => "RCR+",
            Event::RcrMinus => "RCR-",
            Event::Rca => "RCA",
            Event::Rcn => "RCN",
            Event::Rtr => "RTR",
            Event::Rta => "RTA",
            Event::Ruc => "RUC",
            Event::RxjPlus => "RXJ+",
            Event::RxjMinus => "RXJ-",
            Event::Rxr => "RXR",
        }
    }
}

/// Actions (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// tlu: This-Layer-Up.
    Tlu,
    /// tld: This-Layer-Down.
    Tld,
    /// tls: This-Layer-Started.
    Tls,
    /// tlf: This-Layer-Finished.
    Tlf,
    /// irc: Initialize-Restart-Count.
    Irc,
    /// zrc: Zero-Restart-Count.
    Zrc,
    /// scr: Send-Configure-Request.
    Scr,
    /// sca: Send-Configure-Ack.
    Sca,
    /// scn: Send-Configure-Nak (or Reject).
    Scn,
    /// str: Send-Terminate-Request.
    Str,
    /// sta: Send-Terminate-Ack.
    Sta,
    /// scj: Send-Code-Reject.
    Scj,
    /// ser: Send-Echo-Reply.
    Ser,
}

impl Action {
    /// The RFC's abbreviation.
    pub fn name(self) -> &'static str {
        match self {
            Action::Tlu => "tlu",
            Action::Tld => "tld",
            Action::Tls => "tls",
            Action::Tlf => "tlf",
            Action::Irc => "irc",
            Action::Zrc => "zrc",
            Action::Scr => "scr",
            Action::Sca => "sca",
            Action::Scn => "scn",
            Action::Str => "str",
            Action::Sta => "sta",
            Action::Scj => "scj",
            Action::Ser => "ser",
        }
    }
}

/// The §4.1 table: actions and next state, or `None` for "-".
pub fn transition(state: State, event: Event) -> Option<(&'static [Action], State)> {
    use Action::*;
    use Event as E;
    use State as S;
    let cell: (&'static [Action], State) = match (state, event) {
        // Up: Initial -> 2; Starting -> irc,scr/6.
        (S::Initial, E::Up) => (&[], S::Closed),
        (S::Starting, E::Up) => (&[Irc, Scr], S::ReqSent),
        // Down.
        (S::Closed, E::Down) => (&[], S::Initial),
        (S::Stopped, E::Down) => (&[Tls], S::Starting),
        (S::Closing, E::Down) => (&[], S::Initial),
        (S::Stopping, E::Down) => (&[], S::Starting),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Down) => (&[], S::Starting),
        (S::Opened, E::Down) => (&[Tld], S::Starting),
        // Open ([r] not taken: 3, 5, 9 stay).
        (S::Initial, E::Open) => (&[Tls], S::Starting),
        (S::Starting, E::Open) => (&[], S::Starting),
        (S::Closed, E::Open) => (&[Irc, Scr], S::ReqSent),
        (S::Stopped, E::Open) => (&[], S::Stopped),
        (S::Closing | S::Stopping, E::Open) => (&[], S::Stopping),
        (S::ReqSent, E::Open) => (&[], S::ReqSent),
        (S::AckRcvd, E::Open) => (&[], S::AckRcvd),
        (S::AckSent, E::Open) => (&[], S::AckSent),
        (S::Opened, E::Open) => (&[], S::Opened),
        // Close.
        (S::Initial, E::Close) => (&[], S::Initial),
        (S::Starting, E::Close) => (&[Tlf], S::Initial),
        (S::Closed | S::Stopped, E::Close) => (&[], S::Closed),
        (S::Closing | S::Stopping, E::Close) => (&[], S::Closing),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Close) => (&[Irc, Str], S::Closing),
        (S::Opened, E::Close) => (&[Tld, Irc, Str], S::Closing),
        // TO+.
        (S::Closing, E::TimeoutPlus) => (&[Str], S::Closing),
        (S::Stopping, E::TimeoutPlus) => (&[Str], S::Stopping),
        (S::ReqSent | S::AckRcvd, E::TimeoutPlus) => (&[Scr], S::ReqSent),
        (S::AckSent, E::TimeoutPlus) => (&[Scr], S::AckSent),
        // TO- ([p] not taken).
        (S::Closing, E::TimeoutMinus) => (&[Tlf], S::Closed),
        (S::Stopping, E::TimeoutMinus) => (&[Tlf], S::Stopped),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::TimeoutMinus) => (&[Tlf], S::Stopped),
        // RCR+.
        (S::Closed, E::RcrPlus) => (&[Sta], S::Closed),
        (S::Stopped, E::RcrPlus) => (&[Irc, Scr, Sca], S::AckSent),
        (S::Closing, E::RcrPlus) => (&[], S::Closing),
        (S::Stopping, E::RcrPlus) => (&[], S::Stopping),
        (S::ReqSent, E::RcrPlus) => (&[Sca], S::AckSent),
        (S::AckRcvd, E::RcrPlus) => (&[Sca, Tlu], S::Opened),
        (S::AckSent, E::RcrPlus) => (&[Sca], S::AckSent),
        (S::Opened, E::RcrPlus) => (&[Tld, Scr, Sca], S::AckSent),
        // RCR-.
        (S::Closed, E::RcrMinus) => (&[Sta], S::Closed),
        (S::Stopped, E::RcrMinus) => (&[Irc, Scr, Scn], S::ReqSent),
        (S::Closing, E::RcrMinus) => (&[], S::Closing),
        (S::Stopping, E::RcrMinus) => (&[], S::Stopping),
        (S::ReqSent, E::RcrMinus) => (&[Scn], S::ReqSent),
        (S::AckRcvd, E::RcrMinus) => (&[Scn], S::AckRcvd),
        (S::AckSent, E::RcrMinus) => (&[Scn], S::ReqSent),
        (S::Opened, E::RcrMinus) => (&[Tld, Scr, Scn], S::ReqSent),
        // RCA ([x]: crossed connection in Ack-Rcvd and Opened).
        (S::Closed, E::Rca) => (&[Sta], S::Closed),
        (S::Stopped, E::Rca) => (&[Sta], S::Stopped),
        (S::Closing, E::Rca) => (&[], S::Closing),
        (S::Stopping, E::Rca) => (&[], S::Stopping),
        (S::ReqSent, E::Rca) => (&[Irc], S::AckRcvd),
        (S::AckRcvd, E::Rca) => (&[Scr], S::ReqSent),
        (S::AckSent, E::Rca) => (&[Irc, Tlu], S::Opened),
        (S::Opened, E::Rca) => (&[Tld, Scr], S::ReqSent),
        // RCN.
        (S::Closed, E::Rcn) => (&[Sta], S::Closed),
        (S::Stopped, E::Rcn) => (&[Sta], S::Stopped),
        (S::Closing, E::Rcn) => (&[], S::Closing),
        (S::Stopping, E::Rcn) => (&[], S::Stopping),
        (S::ReqSent, E::Rcn) => (&[Irc, Scr], S::ReqSent),
        (S::AckRcvd, E::Rcn) => (&[Scr], S::ReqSent),
        (S::AckSent, E::Rcn) => (&[Irc, Scr], S::AckSent),
        (S::Opened, E::Rcn) => (&[Tld, Scr], S::ReqSent),
        // RTR.
        (S::Closed, E::Rtr) => (&[Sta], S::Closed),
        (S::Stopped, E::Rtr) => (&[Sta], S::Stopped),
        (S::Closing, E::Rtr) => (&[Sta], S::Closing),
        (S::Stopping, E::Rtr) => (&[Sta], S::Stopping),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::Rtr) => (&[Sta], S::ReqSent),
        (S::Opened, E::Rtr) => (&[Tld, Zrc, Sta], S::Stopping),
        // RTA.
        (S::Closed, E::Rta) => (&[], S::Closed),
        (S::Stopped, E::Rta) => (&[], S::Stopped),
        (S::Closing, E::Rta) => (&[Tlf], S::Closed),
        (S::Stopping, E::Rta) => (&[Tlf], S::Stopped),
        (S::ReqSent | S::AckRcvd, E::Rta) => (&[], S::ReqSent),
        (S::AckSent, E::Rta) => (&[], S::AckSent),
        (S::Opened, E::Rta) => (&[Tld, Scr], S::ReqSent),
        // RUC: scj, same state.
        (s @ (S::Closed | S::Stopped | S::Closing | S::Stopping), E::Ruc) => (&[Scj], s),
        (s @ (S::ReqSent | S::AckRcvd | S::AckSent | S::Opened), E::Ruc) => (&[Scj], s),
        // RXJ+: same state, except Ack-Rcvd -> 6.
        (S::AckRcvd, E::RxjPlus) => (&[], S::ReqSent),
        (
            s @ (S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckSent
            | S::Opened),
            E::RxjPlus,
        ) => (&[], s),
        // RXJ-.
        (S::Closed | S::Closing, E::RxjMinus) => (&[Tlf], S::Closed),
        (S::Stopped | S::Stopping, E::RxjMinus) => (&[Tlf], S::Stopped),
        (S::ReqSent | S::AckRcvd | S::AckSent, E::RxjMinus) => (&[Tlf], S::Stopped),
        (S::Opened, E::RxjMinus) => (&[Tld, Irc, Str], S::Stopping),
        // RXR.
        (S::Opened, E::Rxr) => (&[Ser], S::Opened),
        (
            s @ (S::Closed
            | S::Stopped
            | S::Closing
            | S::Stopping
            | S::ReqSent
            | S::AckRcvd
            | S::AckSent),
            E::Rxr,
        ) => (&[], s),
        // "-": the event cannot occur in this state.
        _ => return None,
    };
    Some(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1661 §4.1, transcribed cell by cell: one line per event, one
    /// column per state 0..9 ("-" illegal; "a,b/N" actions and state).
    const TABLE: &str = "
Up   | 2 | irc,scr/6 | - | - | - | - | - | - | - | -
Down | - | - | 0 | tls/1 | 0 | 1 | 1 | 1 | 1 | tld/1
Open | tls/1 | 1 | irc,scr/6 | 3 | 5 | 5 | 6 | 7 | 8 | 9
Close| 0 | tlf/0 | 2 | 2 | 4 | 4 | irc,str/4 | irc,str/4 | irc,str/4 | tld,irc,str/4
TO+  | - | - | - | - | str/4 | str/5 | scr/6 | scr/6 | scr/8 | -
TO-  | - | - | - | - | tlf/2 | tlf/3 | tlf/3 | tlf/3 | tlf/3 | -
RCR+ | - | - | sta/2 | irc,scr,sca/8 | 4 | 5 | sca/8 | sca,tlu/9 | sca/8 | tld,scr,sca/8
RCR- | - | - | sta/2 | irc,scr,scn/6 | 4 | 5 | scn/6 | scn/7 | scn/6 | tld,scr,scn/6
RCA  | - | - | sta/2 | sta/3 | 4 | 5 | irc/7 | scr/6 | irc,tlu/9 | tld,scr/6
RCN  | - | - | sta/2 | sta/3 | 4 | 5 | irc,scr/6 | scr/6 | irc,scr/8 | tld,scr/6
RTR  | - | - | sta/2 | sta/3 | sta/4 | sta/5 | sta/6 | sta/6 | sta/6 | tld,zrc,sta/5
RTA  | - | - | 2 | 3 | tlf/2 | tlf/3 | 6 | 6 | 8 | tld,scr/6
RUC  | - | - | scj/2 | scj/3 | scj/4 | scj/5 | scj/6 | scj/7 | scj/8 | scj/9
RXJ+ | - | - | 2 | 3 | 4 | 5 | 6 | 6 | 8 | 9
RXJ- | - | - | tlf/2 | tlf/3 | tlf/2 | tlf/3 | tlf/3 | tlf/3 | tlf/3 | tld,irc,str/5
RXR  | - | - | 2 | 3 | 4 | 5 | 6 | 7 | 8 | ser/9
";

    #[test]
    fn every_cell_matches_rfc1661_section_4_1() {
        let mut cells = 0;
        for line in TABLE.lines().filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cols.len(), 11, "{line}");
            let event = *Event::ALL
                .iter()
                .find(|e| e.name() == cols[0])
                .unwrap_or_else(|| panic!("event {}", cols[0]));
            for (i, cell) in cols[1..].iter().enumerate() {
                let state = State::ALL[i];
                let got = transition(state, event);
                let want = if *cell == "-" {
                    None
                } else {
                    let (acts, next) = cell.rsplit_once('/').unwrap_or(("", cell));
                    let acts: Vec<&str> = acts.split(',').filter(|a| !a.is_empty()).collect();
                    let next: usize = next.parse().unwrap();
                    Some((acts, State::ALL[next]))
                };
                let got = got.map(|(a, s)| (a.iter().map(|a| a.name()).collect::<Vec<_>>(), s));
                assert_eq!(
                    got,
                    want,
                    "cell ({} , {}) = {cell:?}",
                    state.name(),
                    event.name()
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 160);
    }

    #[test]
    fn timer_runs_exactly_in_states_with_timeout_events() {
        for s in State::ALL {
            let has_to = transition(s, Event::TimeoutPlus).is_some();
            assert_eq!(s.timer_runs(), has_to, "{}", s.name());
        }
    }
}
