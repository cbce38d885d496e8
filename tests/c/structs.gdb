# print a struct (through a pointer and in the caller's frame) and a global array
set pagination off
set confirm off
print $sp
break area
continue
print *p
print p->name
up
print corner
print squares
print squares[3]@3
info locals
continue
print $_exitcode
