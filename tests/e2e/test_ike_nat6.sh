#!/bin/bash
# test_ike_nat.sh over an IPv6 underlay (4in6): gateway B behind an
# nftables ip6 SNAT whose port mapping changes mid-flow. The plugin turns
# add_sa's ports into "sa update" and passes espressod's mapping event on,
# over IPv6 as over IPv4.
FAMILY=6 exec bash "$(dirname "$0")/test_ike_nat.sh"
