// A small static AArch64 Linux program for the gdbserver tests and benchmark.
// main loop: call `hot` N times (N = 5 unless argv[1] is given as a decimal), each call
// adds its argument to `total` in .data; then write a line and exit with total & 0xff.
        .text
        .global _start
_start:
        ldr     x0, [sp]                // argc
        mov     x19, #5                 // iterations
        cmp     x0, #2
        b.lt    1f
        ldr     x1, [sp, #16]           // argv[1]
        bl      atoi
        mov     x19, x0
1:      mov     x20, #0                 // i
loop:
        add     x0, x20, #1
        bl      hot
        add     x20, x20, #1
        cmp     x20, x19
        b.lt    loop
        mov     x0, #1                  // write(1, msg, len)
        adr     x1, msg
        mov     x2, #(msgend - msg)
        mov     x8, #64
        svc     #0
        adr     x1, total
        ldr     x0, [x1]
        and     x0, x0, #0xff
        mov     x8, #94                 // exit_group(total & 0xff)
        svc     #0

        .global hot
        .type   hot, %function
hot:
        stp     x29, x30, [sp, #-16]!
        mov     x29, sp
        adr     x1, total
        ldr     x2, [x1]
        add     x2, x2, x0
        str     x2, [x1]
        ldp     x29, x30, [sp], #16
        ret
        .size   hot, . - hot

        .global atoi
        .type   atoi, %function
atoi:   mov     x0, #0                  // x1 = string; decimal digits only
2:      ldrb    w2, [x1], #1
        sub     w2, w2, #'0'
        cmp     w2, #9
        b.hi    3f
        mov     x3, #10
        madd    x0, x0, x3, x2
        b       2b
3:      ret
        .size   atoi, . - atoi

msg:    .ascii  "loop done\n"
msgend:
        .data
        .balign 8
        .global total
total:  .quad   0
