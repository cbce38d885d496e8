# break by function, bt, info locals, print, next/step/finish/until, a software
# watchpoint on a global, the exit code
set pagination off
set confirm off
set can-use-hw-watchpoints 0
print $sp
break report
continue
bt
info locals
print total
next
step
finish
until
watch total
continue
continue
delete
continue
print $_exitcode
