; type: xdp
call 15
r0 = 2
exit
