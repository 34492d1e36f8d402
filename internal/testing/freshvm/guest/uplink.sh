#!/bin/sh
# freshvm-uplink: the fresh VM's uplink, made at every boot. A veth pair
# (up0 here) leads to the network namespace "upstream", which stands for
# the internet: 198.51.100.1 with an HTTP server whose page says
# "upstream-ok". The device reaches it as 198.51.100.2, its default route.
set -e
ip netns add upstream
ip link add up0 type veth peer name eth0 netns upstream
ip -n upstream link set lo up
ip -n upstream addr add 198.51.100.1/24 dev eth0
ip -n upstream link set eth0 up
ip addr add 198.51.100.2/24 dev up0
ip link set up0 up
ip route replace default via 198.51.100.1
ip netns exec upstream busybox httpd -p 80 -h /srv/upstream
