; type: xdp
call 14
r0 = 2
exit
