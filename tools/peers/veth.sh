# shellcheck shell=bash
# Baseline: the plain veth wire itself (TSO/GSO/GRO off, see common.sh). No daemons.
VETH_DST=$WIRE_B
VETH_SRC=""
veth_up() { wait_ping "$NS_A" "$WIRE_B" || fail "no ping over the veth"; }
veth_down() { :; }
