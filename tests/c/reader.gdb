# a program reading stdin (the stub's own stdin, as with qemu-aarch64 -g)
set pagination off
set confirm off
print $sp
break reader.c:10
continue
print sum
print count
continue
print $_exitcode
