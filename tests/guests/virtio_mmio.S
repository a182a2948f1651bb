/*
 * 64-bit long mode (CPL0), for tests/kvm/virtio_mmio_test.c: a minimal
 * virtio-mmio driver. The host passes the transport's base in %rdi and a
 * 32 KiB ring area in %rsi (descriptors at +0, available ring at +0x1000,
 * used ring at +0x2000, the request buffer at +0x3000, the reply buffer at
 * +0x4000). With the in-kernel (FULL) irqchip the guest:
 *  1. installs an IDT gate for vector 0x25 (IRQ 5 through the 8259, vector
 *     base 0x20) and unmasks IRQ 5;
 *  2. checks MagicValue, Version 2 and DeviceID 4, then does the init
 *     sequence: reset, ACKNOWLEDGE, DRIVER, VERSION_1 (the only feature it
 *     takes), FEATURES_OK (read back), queue 0 of size 8 (QueueReady read
 *     back as 0 before and 1 after, QueueNumMax at least 8), DRIVER_OK;
 *  3. posts one request: "ping" (16 bytes readable) then 16 writable bytes;
 *  4. kicks with QueueNotify = 0 (an ioeventfd: no exit) and waits in
 *     `sti; hlt` for the interrupt; the handler reads InterruptStatus,
 *     writes it to InterruptACK, counts, and EOIs the PIC;
 *  5. checks the used ring (one entry, id 0, length 4), that the reply is
 *     "pong", that exactly one interrupt came, with InterruptStatus 1.
 * It then writes 0 to port 0xf0, or the number of the step that failed, and
 * halts with interrupts off.
 */
#define IDT     0x9000
#define IDTR    0x8ff0
#define COUNT   0x8fe0
#define ISRSEEN 0x8fe8
#define VEC     0x25

#define MAGIC     0x000
#define VERSION   0x004
#define DEVICE_ID 0x008
#define DFEAT     0x010
#define DFEAT_SEL 0x014
#define GFEAT     0x020
#define GFEAT_SEL 0x024
#define QSEL      0x030
#define QNUM_MAX  0x034
#define QNUM      0x038
#define QREADY    0x044
#define QNOTIFY   0x050
#define ISR       0x060
#define ACK       0x064
#define STATUS    0x070
#define QDESC     0x080
#define QDRIVER   0x090
#define QDEVICE   0x0a0

/* Fail with step \n unless the flags say "equal". */
#define EXPECT_EQ(n) mov $n, %bl; jne fail

	.code64
	.text
	.global _start
_start:
	cli
	mov %rdi, %r12			/* transport base */
	mov %rsi, %r13			/* ring area */
	movq $0, COUNT
	movq $0, ISRSEEN

	/* 1. IDT: one 64-bit interrupt gate, the rest not present. */
	mov $IDT, %rdi
	xor %eax, %eax
	mov $512, %ecx
	rep stosq
	lea handler(%rip), %rax
	mov $(IDT + VEC * 16), %rdx
	mov %ax, (%rdx)
	movw $0x08, 2(%rdx)
	movw $0x8e00, 4(%rdx)		/* IST 0, present, DPL 0, interrupt gate */
	shr $16, %rax
	mov %ax, 6(%rdx)
	shr $16, %rax
	mov %eax, 8(%rdx)
	movl $0, 12(%rdx)
	movw $0xfff, IDTR
	movq $IDT, IDTR + 2
	lidt IDTR

	mov $0x11, %al			/* 8259s: ICW1-4, vectors 0x20/0x28 */
	out %al, $0x20
	mov $0x20, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	mov $0x11, %al
	out %al, $0xa0
	mov $0x28, %al
	out %al, $0xa1
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0xa1
	mov $0xff, %al
	out %al, $0xa1
	mov $0xdf, %al			/* unmask IRQ 5 only */
	out %al, $0x21

	/* 2. Identity and init. */
	cmpl $0x74726976, MAGIC(%r12)
	EXPECT_EQ(1)
	cmpl $2, VERSION(%r12)
	EXPECT_EQ(2)
	cmpl $4, DEVICE_ID(%r12)
	EXPECT_EQ(3)
	movl $0, STATUS(%r12)
	movl $1, STATUS(%r12)
	movl $3, STATUS(%r12)
	movl $1, DFEAT_SEL(%r12)
	testl $1, DFEAT(%r12)		/* VERSION_1 is bit 32 */
	mov $4, %bl
	jz fail
	movl $1, GFEAT_SEL(%r12)
	movl $1, GFEAT(%r12)
	movl $0, GFEAT_SEL(%r12)
	movl $0, GFEAT(%r12)
	movl $0xb, STATUS(%r12)
	testl $8, STATUS(%r12)
	mov $5, %bl
	jz fail
	movl $0, QSEL(%r12)
	cmpl $0, QREADY(%r12)
	EXPECT_EQ(6)
	cmpl $8, QNUM_MAX(%r12)
	mov $7, %bl
	jb fail
	movl $8, QNUM(%r12)
	mov %r13, %rax
	mov %eax, QDESC(%r12)
	shr $32, %rax
	mov %eax, QDESC + 4(%r12)
	lea 0x1000(%r13), %rax
	mov %eax, QDRIVER(%r12)
	shr $32, %rax
	mov %eax, QDRIVER + 4(%r12)
	lea 0x2000(%r13), %rax
	mov %eax, QDEVICE(%r12)
	shr $32, %rax
	mov %eax, QDEVICE + 4(%r12)
	movl $1, QREADY(%r12)
	cmpl $1, QREADY(%r12)
	EXPECT_EQ(8)
	movl $0xf, STATUS(%r12)
	cmpl $0xf, STATUS(%r12)
	EXPECT_EQ(9)

	/* 3. One request: descriptor 0 readable "ping", 1 writable. */
	lea 0x3000(%r13), %rax
	movl $0x676e6970, (%rax)	/* "ping" */
	mov %rax, 0(%r13)
	movl $16, 8(%r13)
	movw $1, 12(%r13)		/* NEXT */
	movw $1, 14(%r13)
	lea 0x4000(%r13), %rax
	movl $0, (%rax)
	mov %rax, 16(%r13)
	movl $16, 24(%r13)
	movw $2, 28(%r13)		/* WRITE */
	movw $0, 30(%r13)
	movw $0, 0x1000(%r13)		/* avail flags: interrupts wanted */
	movw $0, 0x1004(%r13)		/* ring[0] = head 0 */
	mfence
	movw $1, 0x1002(%r13)		/* idx = 1: published */
	mfence

	/* 4. Kick, then wait for the interrupt. */
	movl $0, QNOTIFY(%r12)
1:	cli
	cmpq $0, COUNT
	jne 2f
	sti				/* sti; hlt: no interrupt slips in between */
	hlt
	jmp 1b
2:	cli

	/* 5. Results. */
	cmpw $1, 0x2002(%r13)		/* used idx */
	EXPECT_EQ(10)
	cmpl $0, 0x2004(%r13)		/* used[0].id */
	EXPECT_EQ(11)
	cmpl $4, 0x2008(%r13)		/* used[0].len */
	EXPECT_EQ(12)
	cmpl $0x676e6f70, 0x4000(%r13)	/* "pong" */
	EXPECT_EQ(13)
	cmpq $1, COUNT
	EXPECT_EQ(14)
	cmpq $1, ISRSEEN
	EXPECT_EQ(15)
	cmpl $0, ISR(%r12)		/* acknowledged */
	EXPECT_EQ(16)
	xor %ebx, %ebx
fail:
	mov %bl, %al
	out %al, $0xf0
3:	cli
	hlt
	jmp 3b

handler:
	push %rax
	mov ISR(%r12), %eax
	mov %rax, ISRSEEN
	mov %eax, ACK(%r12)
	incq COUNT
	mov $0x20, %al			/* non-specific EOI */
	out %al, $0x20
	pop %rax
	iretq
