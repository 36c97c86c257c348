; type: xdp
r0 = 2
exit
