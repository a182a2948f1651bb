/*
 * 64-bit long mode at CPL3 (kvmhost_x86_vcpu_setup_long_mode user_mode=1,
 * with the helper's GDT/TSS so that OUT works), for
 * tests/kvm/virtio_hostile_test.c: a hostile virtio-mmio driver. Four
 * transports sit at 0x10000000 + 0x1000 * n (n: 0 blk, 1 net, 2 console,
 * 3 rng); device n's rings live at 0x20000 + 0x10000 * n (queue q at
 * +0x8000 * q: descriptors +0, available ring +0x1000, used ring +0x2000,
 * buffers from +0x3000). Guest RAM is 2 MiB at 0.
 *
 * For each case the guest negotiates the device properly (reset, ACK,
 * DRIVER, VERSION_1 plus what the case needs, FEATURES_OK, queues of size 8,
 * DRIVER_OK), posts one malformed request and kicks (an ioeventfd: no exit),
 * then waits until Status shows DEVICE_NEEDS_RESET and, where DRIVER_OK was
 * set when the device broke, InterruptStatus shows the configuration change
 * (bit 1, then acknowledged); checks that the device used nothing; and
 * reports the case number on port 0xf1 (the host checks the device's
 * reason, the canaries and the other VM). Cases whose ring lies outside
 * guest memory are refused at QueueReady instead (read back 0, before
 * DRIVER_OK). Then it resets the device (Status = 0, read back 0 with
 * InterruptStatus 0), initialises it again and performs one valid request:
 * blk reads sector 1 (must start "HOSTILE1"), rng gets 64 bytes, console
 * sends "console:<c>\n", net sends a 60-byte frame whose payload starts
 * "hostile<c>" (<c> = 'A' + case); it checks the used ring and the
 * used-buffer interrupt, that Status is 0xf, and reports the case on port
 * 0xf2 (the host checks what arrived).
 *
 * Every wait polls a register or the used ring and does OUT to port 0xf3
 * between polls (the host keeps the time). At the end: OUT 0 to port 0xf0,
 * or (case << 8) | step of the first check that failed. CPL3 cannot halt:
 * it then spins until the host stops running it.
 */
#define MMIO_BASE 0x10000000
#define RINGS	  0x20000
#define QSIZE	  8
#define POLL_MAX  2000000

#define DEV_BLK 0
#define DEV_NET 1
#define DEV_CON 2
#define DEV_RNG 3

#define DONE_PORT      0xf0
#define BROKEN_PORT    0xf1
#define RECOVERED_PORT 0xf2
#define YIELD_PORT     0xf3

#define DFEAT	  0x010
#define DFEAT_SEL 0x014
#define GFEAT	  0x020
#define GFEAT_SEL 0x024
#define QSEL	  0x030
#define QNUM_MAX  0x034
#define QNUM	  0x038
#define QREADY	  0x044
#define QNOTIFY	  0x050
#define ISR	  0x060
#define ACK	  0x064
#define STATUS	  0x070
#define QDESC	  0x080
#define QDRIVER	  0x090
#define QDEVICE	  0x0a0

#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4

/* Page-0 feature bit VIRTIO_F_RING_INDIRECT_DESC (28). */
#define FEAT_INDIRECT 0x10000000

/* An address no guest memory backs (1 GiB; RAM is 2 MiB). */
#define OUTSIDE_RAM 0x40000000
/* The end of guest RAM. */
#define RAM_END 0x200000

/* Failure steps (the low byte of the DONE value). */
#define S_RESET		   1  /* Status not 0 after reset */
#define S_RESET_ISR	   2  /* InterruptStatus not 0 after reset */
#define S_NO_V1		   3  /* VERSION_1 not offered */
#define S_FEAT_MISSING	   4  /* a page-0 feature the case needs is not offered */
#define S_FEATURES_OK	   5  /* FEATURES_OK not accepted */
#define S_QREADY_BEFORE	   6  /* QueueReady not 0 before setup */
#define S_QNUM_MAX	   7  /* QueueNumMax below 8 */
#define S_QREADY_AFTER	   8  /* a valid queue was not enabled */
#define S_DRIVER_OK	   9  /* Status not 0xf after DRIVER_OK */
#define S_NO_NEEDS_RESET   10 /* DEVICE_NEEDS_RESET never appeared */
#define S_NO_CONFIG_IRQ	   11 /* no configuration-change interrupt */
#define S_VRING_IRQ	   12 /* a used-buffer interrupt for a malformed request */
#define S_ACK		   13 /* InterruptStatus not 0 after the acknowledgement */
#define S_USED		   14 /* the device used a malformed request */
#define S_NO_USED	   15 /* a valid request was never used */
#define S_USED_ID	   16 /* used id not 0 */
#define S_RECOVER_IRQ	   17 /* no used-buffer interrupt for the valid request */
#define S_RECOVER_STATUS   18 /* Status not 0xf after the valid request */
#define S_BLK_LEN	   19
#define S_BLK_STATUS	   20
#define S_BLK_DATA	   21
#define S_RNG_LEN	   22
#define S_RNG_ZERO	   23
#define S_TX_LEN	   24
#define S_QREADY_REFUSED   25 /* a queue outside guest memory was enabled */
#define S_BROKEN_STATUS	   26 /* Status after DRIVER_OK on a device refused at QueueReady */

/* Select device \n: %r12 its registers, %r13 its ring area. */
.macro use_dev n
	mov $(MMIO_BASE + \n * 0x1000), %r12d
	mov $(RINGS + \n * 0x10000), %r13d
.endm

/* Select queue \q of the device: %rbp its area. */
.macro use_q q
	lea (\q * 0x8000)(%r13), %rbp
.endm

/* Descriptor \i of the table at %rbp + \tbl: a buffer at %rbp + \off. */
.macro desc_rel tbl, i, off, len, flags, next
	lea \off(%rbp), %rax
	mov %rax, (\tbl + 16 * \i)(%rbp)
	movl $\len, (\tbl + 16 * \i + 8)(%rbp)
	movw $\flags, (\tbl + 16 * \i + 12)(%rbp)
	movw $\next, (\tbl + 16 * \i + 14)(%rbp)
.endm

/* Descriptor \i of the queue's table: a buffer at absolute address \addr. */
.macro desc_abs i, addr, len, flags, next
	movabs $\addr, %rax
	mov %rax, (16 * \i)(%rbp)
	movl $\len, (16 * \i + 8)(%rbp)
	movw $\flags, (16 * \i + 12)(%rbp)
	movw $\next, (16 * \i + 14)(%rbp)
.endm

/* Make head 0 available with the available index set to \idx. */
.macro publish idx
	movw $0, 0x1004(%rbp)
	mfence
	movw $\idx, 0x1002(%rbp)
	mfence
.endm

/* Start a case: its number, the device, reset + negotiation with page-0
 * features \feat. */
.macro begin_case n, dev, feat
	mov $\n, %r14d
	use_dev \dev
	mov $\feat, %edi
	call dev_begin
.endm

	.code64
	.text
	.global _start
_start:
	xor %r14d, %r14d

	/* ---- virtio-blk ---- */

	/* 1: a descriptor chain that loops (1 -> 0 -> 1 ...). */
	begin_case 1, DEV_BLK, 0
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	desc_rel 0, 0, 0x3000, 16, F_NEXT, 1
	desc_rel 0, 1, 0x3010, 16, F_NEXT, 0
	publish 1
	movl $0, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_blk

	/* 2: the request header in a device-writable descriptor. */
	begin_case 2, DEV_BLK, 0
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	movl $0, 0x3000(%rbp)		/* type IN */
	movq $1, 0x3008(%rbp)		/* sector 1 */
	desc_rel 0, 0, 0x3000, 16, F_WRITE | F_NEXT, 1
	desc_rel 0, 1, 0x3200, 512, F_WRITE | F_NEXT, 2
	desc_rel 0, 2, 0x3400, 1, F_WRITE, 0
	publish 1
	movl $0, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_blk

	/* 3: a read whose data buffer runs past the end of guest RAM. */
	begin_case 3, DEV_BLK, 0
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	movl $0, 0x3000(%rbp)
	movq $1, 0x3008(%rbp)
	desc_rel 0, 0, 0x3000, 16, F_NEXT, 1
	desc_abs 1, (RAM_END - 0x100), 512, F_WRITE | F_NEXT, 2
	desc_rel 0, 2, 0x3400, 1, F_WRITE, 0
	publish 1
	movl $0, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_blk

	/* ---- virtio-rng ---- */

	/* 4: a device-readable buffer (requests are device-writable only). */
	begin_case 4, DEV_RNG, 0
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	desc_rel 0, 0, 0x3000, 64, 0, 0
	publish 1
	movl $0, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_rng

	/* 5: a writable buffer outside guest RAM: on the blk transport's
	 * registers. */
	begin_case 5, DEV_RNG, 0
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	desc_abs 0, MMIO_BASE, 64, F_WRITE, 0
	publish 1
	movl $0, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_rng

	/* ---- virtio-net ---- */

	/* 6: the available index jumps further than the queue size. */
	begin_case 6, DEV_NET, 0
	call net_con_queues
	use_q 1
	desc_rel 0, 0, 0x3000, 72, 0, 0
	publish (QSIZE + 5)
	movl $1, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_net

	/* 7: a buffer length that wraps around the address space. */
	begin_case 7, DEV_NET, 0
	call net_con_queues
	use_q 1
	desc_abs 0, 0xfffffffffffff000, 0x2000, 0, 0
	publish 1
	movl $1, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_net

	/* 8: the receiveq's descriptor table outside guest RAM: refused at
	 * QueueReady. The driver goes on regardless (transmitq, DRIVER_OK,
	 * a kick of the refused queue). */
	begin_case 8, DEV_NET, 0
	use_q 0
	xor %esi, %esi
	mov $OUTSIDE_RAM, %eax
	lea 0x1000(%rbp), %rcx
	lea 0x2000(%rbp), %rdx
	call queue_setup
	mov $S_QREADY_REFUSED, %bl
	test %eax, %eax
	jnz fail
	mov $1, %esi
	call queue_std
	call refused_driver_ok
	movl $0, QNOTIFY(%r12)
	xor %edi, %edi
	call wait_broken
	call recover_net

	/* ---- virtio-console ---- */

	/* 9: an indirect descriptor inside an indirect table (with
	 * VIRTIO_F_RING_INDIRECT_DESC negotiated), on the transmitq. */
	begin_case 9, DEV_CON, FEAT_INDIRECT
	call net_con_queues
	use_q 1
	desc_rel 0, 0, 0x5000, 32, F_INDIRECT, 0
	desc_rel 0x5000, 0, 0x5100, 16, F_INDIRECT, 0
	desc_rel 0x5000, 1, 0x3000, 16, 0, 0
	desc_rel 0x5100, 0, 0x3000, 16, 0, 0
	publish 1
	movl $1, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_con

	/* 10: a device-writable buffer on the transmitq. */
	begin_case 10, DEV_CON, 0
	call net_con_queues
	use_q 1
	desc_rel 0, 0, 0x3000, 16, F_WRITE, 0
	publish 1
	movl $1, QNOTIFY(%r12)
	mov $1, %edi
	call wait_broken
	call recover_con

	/* 11: the transmitq's used ring straddling the end of guest RAM:
	 * refused at QueueReady. */
	begin_case 11, DEV_CON, 0
	xor %esi, %esi
	call queue_std
	use_q 1
	mov $1, %esi
	mov %rbp, %rax
	lea 0x1000(%rbp), %rcx
	mov $(RAM_END - 0x20), %edx
	call queue_setup
	mov $S_QREADY_REFUSED, %bl
	test %eax, %eax
	jnz fail
	call refused_driver_ok
	movl $1, QNOTIFY(%r12)
	xor %edi, %edi
	call wait_broken
	call recover_con

	xor %eax, %eax
	out %eax, $DONE_PORT
1:	jmp 1b

/* Report (case << 8) | %bl and stop. */
fail:
	mov %r14d, %eax
	shl $8, %eax
	mov %bl, %al
	out %eax, $DONE_PORT
1:	jmp 1b

/* Reset the device, zero its ring area, negotiate VERSION_1 plus page-0
 * features %edi, up to FEATURES_OK. */
dev_begin:
	movl $0, STATUS(%r12)
	mov $S_RESET, %bl
	cmpl $0, STATUS(%r12)
	jne fail
	mov $S_RESET_ISR, %bl
	cmpl $0, ISR(%r12)
	jne fail
	push %rdi
	mov %r13, %rdi
	xor %eax, %eax
	mov $(0x10000 / 8), %ecx
	rep stosq
	pop %rdi
	movl $1, STATUS(%r12)
	movl $3, STATUS(%r12)
	movl $1, DFEAT_SEL(%r12)
	mov $S_NO_V1, %bl
	testl $1, DFEAT(%r12)		/* VERSION_1 is bit 32 */
	jz fail
	movl $0, DFEAT_SEL(%r12)
	mov DFEAT(%r12), %eax
	and %edi, %eax
	mov $S_FEAT_MISSING, %bl
	cmp %edi, %eax
	jne fail
	movl $1, GFEAT_SEL(%r12)
	movl $1, GFEAT(%r12)
	movl $0, GFEAT_SEL(%r12)
	mov %edi, GFEAT(%r12)
	movl $0xb, STATUS(%r12)
	mov $S_FEATURES_OK, %bl
	cmpl $0xb, STATUS(%r12)
	jne fail
	ret

/* Set up queue %esi of size 8 with its areas at %rax (descriptors), %rcx
 * (available ring), %rdx (used ring) and write QueueReady = 1. Returns
 * QueueReady as read back in %eax. */
queue_setup:
	mov %esi, QSEL(%r12)
	mov $S_QREADY_BEFORE, %bl
	cmpl $0, QREADY(%r12)
	jne fail
	mov $S_QNUM_MAX, %bl
	cmpl $QSIZE, QNUM_MAX(%r12)
	jb fail
	movl $QSIZE, QNUM(%r12)
	mov %eax, QDESC(%r12)
	shr $32, %rax
	mov %eax, QDESC + 4(%r12)
	mov %ecx, QDRIVER(%r12)
	shr $32, %rcx
	mov %ecx, QDRIVER + 4(%r12)
	mov %edx, QDEVICE(%r12)
	shr $32, %rdx
	mov %edx, QDEVICE + 4(%r12)
	movl $1, QREADY(%r12)
	mov QREADY(%r12), %eax
	ret

/* Set up queue %esi in its own area of the device's ring space; it must be
 * enabled. */
queue_std:
	mov %esi, %eax
	shl $15, %eax
	add %r13, %rax
	lea 0x1000(%rax), %rcx
	lea 0x2000(%rax), %rdx
	call queue_setup
	mov $S_QREADY_AFTER, %bl
	cmp $1, %eax
	jne fail
	ret

/* Both queues of net or console, then DRIVER_OK. */
net_con_queues:
	xor %esi, %esi
	call queue_std
	mov $1, %esi
	call queue_std
	/* fall through */
driver_ok:
	movl $0xf, STATUS(%r12)
	mov $S_DRIVER_OK, %bl
	cmpl $0xf, STATUS(%r12)
	jne fail
	ret

/* DRIVER_OK on a device that refused a queue: taken, DEVICE_NEEDS_RESET
 * stays. */
refused_driver_ok:
	movl $0xf, STATUS(%r12)
	mov $S_BROKEN_STATUS, %bl
	cmpl $0x4f, STATUS(%r12)
	jne fail
	ret

/* Wait for DEVICE_NEEDS_RESET and, if %edi, for the configuration-change
 * interrupt (acknowledged); check that nothing was used on the queue at
 * %rbp; report the case on BROKEN_PORT. */
wait_broken:
	mov $POLL_MAX, %r15d
1:	testl $0x40, STATUS(%r12)
	jnz 2f
	mov $S_USED, %bl
	cmpw $0, 0x2002(%rbp)		/* served instead of refused */
	jne fail
	out %al, $YIELD_PORT
	dec %r15d
	jnz 1b
	mov $S_NO_NEEDS_RESET, %bl
	jmp fail
2:	test %edi, %edi
	jz 5f
	mov $POLL_MAX, %r15d
3:	testl $2, ISR(%r12)
	jnz 4f
	out %al, $YIELD_PORT
	dec %r15d
	jnz 3b
	mov $S_NO_CONFIG_IRQ, %bl
	jmp fail
4:	mov $S_VRING_IRQ, %bl
	testl $1, ISR(%r12)
	jnz fail
	movl $2, ACK(%r12)
	mov $S_ACK, %bl
	cmpl $0, ISR(%r12)
	jne fail
5:	mov $S_USED, %bl
	cmpw $0, 0x2002(%rbp)
	jne fail
	mov %r14d, %eax
	out %eax, $BROKEN_PORT
	ret

/* Kick queue %esi, wait until the queue at %rbp used head 0 and the
 * used-buffer interrupt came (acknowledged). Returns the used length in
 * %eax. */
kick_and_wait:
	mov %esi, QNOTIFY(%r12)
	mov $POLL_MAX, %r15d
1:	cmpw $1, 0x2002(%rbp)
	je 2f
	out %al, $YIELD_PORT
	dec %r15d
	jnz 1b
	mov $S_NO_USED, %bl
	jmp fail
2:	mov $POLL_MAX, %r15d
3:	testl $1, ISR(%r12)
	jnz 4f
	out %al, $YIELD_PORT
	dec %r15d
	jnz 3b
	mov $S_RECOVER_IRQ, %bl
	jmp fail
4:	movl $1, ACK(%r12)
	mov $S_USED_ID, %bl
	cmpl $0, 0x2004(%rbp)
	jne fail
	mov 0x2008(%rbp), %eax
	ret

/* The device works again: Status 0xf, report on RECOVERED_PORT. */
recovered:
	mov $S_RECOVER_STATUS, %bl
	cmpl $0xf, STATUS(%r12)
	jne fail
	mov %r14d, %eax
	out %eax, $RECOVERED_PORT
	ret

/* Reset and re-initialise blk, read sector 1. */
recover_blk:
	xor %edi, %edi
	call dev_begin
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	movl $0, 0x3000(%rbp)		/* type IN */
	movq $1, 0x3008(%rbp)		/* sector 1 */
	movb $0xff, 0x3400(%rbp)
	desc_rel 0, 0, 0x3000, 16, F_NEXT, 1
	desc_rel 0, 1, 0x3200, 512, F_WRITE | F_NEXT, 2
	desc_rel 0, 2, 0x3400, 1, F_WRITE, 0
	publish 1
	xor %esi, %esi
	call kick_and_wait
	mov $S_BLK_LEN, %bl
	cmp $513, %eax
	jne fail
	mov $S_BLK_STATUS, %bl
	cmpb $0, 0x3400(%rbp)
	jne fail
	mov $S_BLK_DATA, %bl
	movabs $0x31454c4954534f48, %rax	/* "HOSTILE1" */
	cmp %rax, 0x3200(%rbp)
	jne fail
	jmp recovered

/* Reset and re-initialise rng, take 64 bytes. */
recover_rng:
	xor %edi, %edi
	call dev_begin
	xor %esi, %esi
	call queue_std
	call driver_ok
	use_q 0
	desc_rel 0, 0, 0x3000, 64, F_WRITE, 0
	publish 1
	xor %esi, %esi
	call kick_and_wait
	mov $S_RNG_LEN, %bl
	cmp $64, %eax
	jne fail
	xor %eax, %eax
	xor %ecx, %ecx
1:	or 0x3000(%rbp, %rcx, 8), %rax
	inc %ecx
	cmp $8, %ecx
	jb 1b
	mov $S_RNG_ZERO, %bl
	test %rax, %rax
	jz fail
	jmp recovered

/* Reset and re-initialise console, send "console:<c>\n". */
recover_con:
	xor %edi, %edi
	call dev_begin
	call net_con_queues
	use_q 1
	movabs $0x3a656c6f736e6f63, %rax	/* "console:" */
	mov %rax, 0x3000(%rbp)
	lea 'A'(%r14), %eax
	mov %al, 0x3008(%rbp)
	movb $'\n', 0x3009(%rbp)
	desc_rel 0, 0, 0x3000, 10, 0, 0
	publish 1
	mov $1, %esi
	call kick_and_wait
	mov $S_TX_LEN, %bl
	test %eax, %eax			/* transmit buffers: nothing written */
	jnz fail
	jmp recovered

/* Reset and re-initialise net, send one frame (12-byte header of zeros,
 * then 60 bytes: broadcast, from 52:54:00:12:34:56, EtherType 0x88b5,
 * "hostile<c>", zeros). */
recover_net:
	xor %edi, %edi
	call dev_begin
	call net_con_queues
	use_q 1
	movl $0xffffffff, 0x300c(%rbp)
	movw $0xffff, 0x3010(%rbp)
	movl $0x12005452, 0x3012(%rbp)
	movw $0x5634, 0x3016(%rbp)
	movw $0xb588, 0x3018(%rbp)
	movabs $0x656c6974736f68, %rax	/* "hostile" */
	mov %rax, 0x301a(%rbp)
	lea 'A'(%r14), %eax
	mov %al, 0x3021(%rbp)
	desc_rel 0, 0, 0x3000, 72, 0, 0
	publish 1
	mov $1, %esi
	call kick_and_wait
	mov $S_TX_LEN, %bl
	test %eax, %eax
	jnz fail
	jmp recovered
