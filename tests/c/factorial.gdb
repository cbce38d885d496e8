# break by line in a recursion: bt five frames deep, finish with the value returned
set pagination off
set confirm off
print $sp
break factorial.c:6
continue
bt
print n
finish
finish
delete
continue
print $_exitcode
