// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Built for the host by dataplane/build.rs and run there: prints every
 * size, offset and constant of xlns.h, which the `loader::abi` test
 * compares with the Rust side.
 */
#include <stddef.h>
#include <stdio.h>
#include "xlns.h"

#define P(name, v) printf("%s %lu\n", name, (unsigned long)(v))

int main(void)
{
	P("XLNS_MAX_QUEUES", XLNS_MAX_QUEUES);
	P("XLNS_XSK_CORE_BASE", XLNS_XSK_CORE_BASE);
	P("XLNS_XSK_ENTRIES", XLNS_XSK_ENTRIES);
	P("XLNS_MAX_PREFIXES", XLNS_MAX_PREFIXES);
	P("XLNS_MAX_SWITCHED", XLNS_MAX_SWITCHED);
	P("XLNS_CFG_SWITCHED", XLNS_CFG_SWITCHED);
	P("XLNS_VERDICTS", XLNS_VERDICTS);
	P("XLNS_ACCESS_TO_XSK", XLNS_ACCESS_TO_XSK);
	P("XLNS_CORE_TO_XSK", XLNS_CORE_TO_XSK);
	P("XLNS_PASS_CONTROL", XLNS_PASS_CONTROL);
	P("XLNS_PASS_PPP_CONTROL", XLNS_PASS_PPP_CONTROL);
	P("XLNS_PASS_NOT_L2TP", XLNS_PASS_NOT_L2TP);
	P("XLNS_PASS_NOT_POOL", XLNS_PASS_NOT_POOL);
	P("XLNS_PASS_FRAGMENT", XLNS_PASS_FRAGMENT);
	P("XLNS_PASS_MALFORMED", XLNS_PASS_MALFORMED);
	P("XLNS_ACCESS_NO_XSK", XLNS_ACCESS_NO_XSK);
	P("XLNS_CORE_NO_XSK", XLNS_CORE_NO_XSK);
	P("XLNS_PASS_OTHER_IFACE", XLNS_PASS_OTHER_IFACE);
	P("XLNS_SWITCHED_TO_XSK", XLNS_SWITCHED_TO_XSK);
	P("XLNS_PASS_LINK_LOCAL", XLNS_PASS_LINK_LOCAL);
	P("sizeof(struct xlns_config)", sizeof(struct xlns_config));
	P("offsetof(xlns_config.access_ifindex)", offsetof(struct xlns_config, access_ifindex));
	P("offsetof(xlns_config.core_ifindex)", offsetof(struct xlns_config, core_ifindex));
	P("offsetof(xlns_config.lns_ipv4)", offsetof(struct xlns_config, lns_ipv4));
	P("offsetof(xlns_config.lns_ipv6)", offsetof(struct xlns_config, lns_ipv6));
	P("offsetof(xlns_config.lns_port)", offsetof(struct xlns_config, lns_port));
	P("offsetof(xlns_config.flags)", offsetof(struct xlns_config, flags));
	P("sizeof(struct xlns_lpm_v4)", sizeof(struct xlns_lpm_v4));
	P("offsetof(xlns_lpm_v4.addr)", offsetof(struct xlns_lpm_v4, addr));
	P("sizeof(struct xlns_lpm_v6)", sizeof(struct xlns_lpm_v6));
	P("offsetof(xlns_lpm_v6.addr)", offsetof(struct xlns_lpm_v6, addr));
	return 0;
}
