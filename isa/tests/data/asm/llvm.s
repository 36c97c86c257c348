# Every LLVM-syntax form bpfx reads, as llvm-mc-19 -mcpu=v4 also reads it.
# isa/tests/asm.rs assembles this file with both and compares the bytes.
start:
	r0 = 0x1
	r1 = -0x3
	w2 = 0x7fffffff
	w3 = -0x80000000
	r4 = 0xffffffff
	r5 = 4294967295
	r6 = 017
	r7 = 0b101
	r8 = r9
	w8 = w9
	r0 = 0x1122334455667788 ll
	r1 = -0x1 ll
	r2 = 0xffffffffffffffff ll
	r3 = 0x0 ll
	r10 = 18446744073709551615 ll
	w2 <<= 0x8
	r2 >>= 3
	r2 s>>= r3
	w2 s>>= w3
	r1 += -0x4
	w1 -= w2
	r1 *= 7
	r1 /= r2
	w1 s/= -0x3
	r1 s/= r2
	r1 %= 10
	r1 s%= r2
	w1 s%= 3
	r1 |= 0x10
	r1 &= r2
	w1 ^= w2
	r0 = -r0
	w0 = -w0
	r1 = (s8)r2
	r1 = (s16)r2
	r1 = (s32)r2
	w1 = (s8)w2
	w1 = (s16)w2
	r0 = be16 r0
	r1 = be32 r1
	r2 = be64 r2
	r0 = le16 r0
	r0 = le32 r0
	r0 = le64 r0
	r0 = bswap16 r0
	r0 = bswap32 r0
	r0 = bswap64 r0
	r1 = *(u8 *)(r2 + 0x3)
	r1 = *(u16 *)(r2 - 0x2)
	r1 = *(u32 *)(r10 - 0x8000)
	w1 = *(u32 *)(r1 + 0x7fff)
	w1 = *(u8 *)(r1 + 0)
	r1 = *(u64 *)(r1 + 0x0)
	r1 = *(s8 *)(r2 + 0x3)
	r1 = *(s16 *)(r2 + 0x3)
	r1 = *(s32 *)(r2 + 0x3)
	*(u32 *)(r10 - 0x4) = r1
	*(u32 *)(r10 - 4) = w1
	*(u8 *)(r1 + 0x2) = w3
	*(u16 *)(r1 + 0x2) = r3
	*(u64 *)(r10 - 0x8) = r0
	*(u8 *)(r1 + 0x2) = 0x7
	*(u16 *)(r1 + 0x2) = -1
	*(u32 *)(r1 + 0x2) = 0xffffffff
	*(u64 *)(r1 + 0x2) = 0x7fffffff
	*(u32*)(r10-4)=r1
	lock *(u64 *)(r1 + 0x8) += r2
	lock *(u64 *)(r1 + 0x8) |= r2
	lock *(u64 *)(r1 + 0x8) &= r2
	lock *(u64 *)(r1 - 0x8) ^= r2
	lock *(u32 *)(r1 + 0x8) += w2
	lock *(u32 *)(r1 + 0x8) += r2
	lock *(u32 *)(r1 + 0x8) |= w2
	lock *(u32 *)(r1 + 0x8) &= w2
	lock *(u32 *)(r1 + 0x8) ^= w2
	r0 = atomic_fetch_add((u64 *)(r1 + 0x8), r0)
	r3 = atomic_fetch_or((u64 *)(r1 + 0x8), r3)
	r3 = atomic_fetch_and((u64 *)(r1 + 0x8), r3)
	r3 = atomic_fetch_xor((u64 *)(r1 - 0x8), r3)
	w0 = atomic_fetch_add((u32 *)(r1 + 0x8), w0)
	w3 = atomic_fetch_or((u32 *)(r1 + 0x8), w3)
	w3 = atomic_fetch_and((u32 *)(r1 + 0x8), w3)
	w3 = atomic_fetch_xor((u32 *)(r1 + 0x8), w3)
	r0 = xchg_64(r1 + 0x8, r0)
	r4 = xchg_64(r1 - 0x8, r4)
	w0 = xchg32_32(r1 + 0x8, w0)
	r0 = cmpxchg_64(r1 + 0x8, r0, r2)
	w0 = cmpxchg32_32(r1 + 0x8, w0, w2)
	r0 = *(u8 *)skb[0x4]
	r0 = *(u16 *)skb[-4]
	r0 = *(u32 *)skb[0xffffffff]
	r0 = *(u8 *)skb[r1]
	r0 = *(u16 *)skb[r1]
	r0 = *(u32 *)skb[r9]
	ld_pseudo r1, 0x1, 0x3
	ld_pseudo r1, 0x2, 0x3
	ld_pseudo r1, 3, 0xffffffff
	ld_pseudo r1, 0x4, 0x3
	ld_pseudo r1, 0x5, 0x3
	ld_pseudo r1, 0x6, -1
	ld_pseudo r1, 0x0, 0x3
middle:
	if r1 > 0x3 goto +0x2
	if w1 s< w2 goto -0x5
	if r1 == r2 goto 1
	if w1 == 0x3 goto +1
	if r1 != -0x1 goto end
	if w1 != 0xffffffff goto start
	if r1 >= r2 goto middle
	if r1 < r2 goto middle
	if r1 <= 0x7fffffff goto end
	if r1 & 3 goto +0
	if w1 & w2 goto +0
	if r1 s> r2 goto end
	if r1 s>= -1 goto -1
	if w1 s<= 0xffffffff goto +1
	if r1 s< 0 goto +32767
	if r1>r2 goto+1
	goto +0x3
	goto -0x8000
	goto 3
	goto end
	goto middle
	gotol +0x3
	gotol -0x1
	gotol end
	gotol start
	may_goto +0x0
	may_goto -1
	may_goto end
	call 0x1
	call 12
	call -1
	call 0xffffffff
	call sub
	callx r2
	callx r10
end:
	exit
sub:
	r0 = 0x0
	exit
