; type: sched_cls
call 41
exit
