; type: kprobe
call 14
r0 = 0
exit
