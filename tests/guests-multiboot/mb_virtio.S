/*
 * A tiny Multiboot kernel that keeps two virtio-mmio devices busy, for
 * tests/kvm/machine_virtio_quiet_test.c: device 0 (0xd0000000, GSI 16) is a
 * virtio-blk, device 1 (0xd0001000, GSI 17) a virtio-rng, as a machine puts
 * them. It sets up the IOAPIC (pins 16 and 17 to vectors 0x30 and 0x31, edge)
 * and the local APIC, whose handlers read and acknowledge InterruptStatus and
 * count; does each device's init (VERSION_1 only, queue 0 of 16 entries); then
 * forever, batch b = 1, 2, ...:
 *  - writes PREP = b, then posts 4 virtio-blk reads, request k of the MiB (4b + k) mod 16 of the disk
 *    into its own 1 MiB buffer (3 descriptors each: header, data, status; big, so that a request is
 *    in flight for a while), publishes
 *    them with one store of avail.idx, writes PUBLISHED = b, notifies;
 *  - posts one 64-byte virtio-rng buffer and notifies;
 *  - spins (interrupts on only there) until both used rings caught up, checks each
 *    status is 0 and each buffer's first and last dword are their sectors' tags
 *    (the host fills sector s with 0x5ec00000 + s), writes DONE = b.
 * It needs 16 MiB of RAM and a 16 MiB disk.
 * Any failed check writes its step to ERROR and to the debug-exit port
 * (0xf4), which stops the machine. The mailbox and the rings' addresses are
 * the host test's (MB_VIRTIO_* there).
 */
#include "mb_header.h"
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4

#define MAILBOX   0x200000
#define M_DONE    0	/* batches completed and checked */
#define M_PUB     4	/* batch whose requests are published */
#define M_IRQ_BLK 8	/* interrupts of the blk device */
#define M_IRQ_RNG 12	/* of the rng */
#define M_ERROR   16	/* the step that failed, 0 while all is well */
#define M_READY   24	/* 1 once both devices are up */
#define M_PREP    28	/* batch being prepared (written before anything of it) */

#define BLK	  0xd0000000
#define RNG	  0xd0001000
#define BLK_RING  0x300000	/* desc +0, avail +0x1000, used +0x2000 */
#define BLK_HDR   0x303000	/* 4 request headers of 16 bytes */
#define BLK_STAT  0x303100	/* 4 status bytes */
#define BLK_DATA  0x800000	/* 4 buffers of 1 MiB */
#define DATA_LEN  0x100000
#define RNG_RING  0x310000
#define RNG_BUF   0x313000
#define QSIZE	  16
#define NREQ	  4
#define NMIB	  16	/* disk size in MiB */
#define TAG	  0x5ec00000

#define IDT	  0x280000
#define STACK	  0x290000
#define IOAPIC	  0xfec00000
#define LAPIC	  0xfee00000
#define VEC_BLK	  0x30
#define VEC_RNG	  0x31
#define VEC_SPUR  0xff

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

	MULTIBOOT_START

/* Device init: \base, device id \id, rings at \rings; steps \err + 1 ... */
.macro init_dev base, id, rings, err
	mov $\base, %ebx
	mov $(\err + 1), %al
	cmpl $0x74726976, MAGIC(%ebx)
	jne fail
	mov $(\err + 2), %al
	cmpl $2, VERSION(%ebx)
	jne fail
	mov $(\err + 3), %al
	cmpl $\id, DEVICE_ID(%ebx)
	jne fail
	movl $0, STATUS(%ebx)
	movl $1, STATUS(%ebx)
	movl $3, STATUS(%ebx)
	movl $1, DFEAT_SEL(%ebx)
	mov $(\err + 4), %al
	testl $1, DFEAT(%ebx)		/* VERSION_1 is bit 32 */
	jz fail
	movl $1, GFEAT_SEL(%ebx)
	movl $1, GFEAT(%ebx)
	movl $0, GFEAT_SEL(%ebx)
	movl $0, GFEAT(%ebx)
	movl $0xb, STATUS(%ebx)
	mov $(\err + 5), %al
	testl $8, STATUS(%ebx)
	jz fail
	movl $0, QSEL(%ebx)
	mov $(\err + 6), %al
	cmpl $QSIZE, QNUM_MAX(%ebx)
	jb fail
	movl $QSIZE, QNUM(%ebx)
	movl $\rings, QDESC(%ebx)
	movl $0, QDESC + 4(%ebx)
	movl $(\rings + 0x1000), QDRIVER(%ebx)
	movl $0, QDRIVER + 4(%ebx)
	movl $(\rings + 0x2000), QDEVICE(%ebx)
	movl $0, QDEVICE + 4(%ebx)
	movl $1, QREADY(%ebx)
	movl $0xf, STATUS(%ebx)
	mov $(\err + 7), %al
	cmpl $0xf, STATUS(%ebx)
	jne fail
.endm

/* An IDT gate for vector \vec to \handler (interrupt gate, DPL 0, selector in %cx: 0x08). */
.macro gate vec, handler
	mov $\handler, %eax
	mov %ax, IDT + \vec * 8
	mov %cx, IDT + \vec * 8 + 2
	movw $0x8e00, IDT + \vec * 8 + 4
	shr $16, %eax
	mov %ax, IDT + \vec * 8 + 6
.endm

/* IOAPIC pin \pin to vector \vec: fixed, physical, edge, active high, unmasked, APIC 0. */
.macro route pin, vec
	movl $(0x10 + 2 * \pin + 1), IOAPIC
	movl $0, IOAPIC + 0x10
	movl $(0x10 + 2 * \pin), IOAPIC
	movl $\vec, IOAPIC + 0x10
.endm

entry:
	cli
	/* Multiboot leaves GDTR and ESP undefined: an interrupt gate loads CS from the GDT, a handler needs a stack. */
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $STACK, %esp
	mov $COM1, %dx
	mov $'V', %al
	out %al, %dx
	/* Clear the mailbox, the rings and the IDT. */
	xor %eax, %eax
	mov $MAILBOX, %edi
	mov $16, %ecx
	rep stosl
	mov $BLK_RING, %edi
	mov $(0x8000 / 4), %ecx
	rep stosl
	mov $RNG_RING, %edi
	mov $(0x4000 / 4), %ecx
	rep stosl
	mov $IDT, %edi
	mov $(256 * 8 / 4), %ecx
	rep stosl
	mov $0x08, %cx
	gate VEC_BLK, isr_blk
	gate VEC_RNG, isr_rng
	gate VEC_SPUR, isr_spurious
	lidt idtr
	/* 8259s masked (their ICWs first, so they are in a known state), local APIC on, IOAPIC pins 16/17. */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1
	movl $0, LAPIC + 0x80		/* TPR */
	movl $(0x100 | VEC_SPUR), LAPIC + 0xf0 /* SVR: enabled */
	route 16, VEC_BLK
	route 17, VEC_RNG

	init_dev BLK, 2, BLK_RING, 0x10
	init_dev RNG, 4, RNG_RING, 0x20
	movl $1, MAILBOX + M_READY

	mov $1, %ebp			/* batch */
batch:
	mov %ebp, MAILBOX + M_PREP
	/* 4 reads, request k: descriptors 3k, 3k+1, 3k+2. */
	xor %esi, %esi			/* k */
1:	lea (,%ebp,4), %eax
	add %esi, %eax
	and $(NMIB - 1), %eax
	shl $11, %eax			/* sector */
	mov %esi, %ebx
	shl $4, %ebx
	movl $0, BLK_HDR(%ebx)		/* type IN */
	movl $0, BLK_HDR + 4(%ebx)
	mov %eax, BLK_HDR + 8(%ebx)
	movl $0, BLK_HDR + 12(%ebx)
	movb $0xff, BLK_STAT(%esi)
	mov %esi, %ebx
	shl $20, %ebx
	movl $0, BLK_DATA(%ebx)		/* so that the check sees the device write it */
	movl $0, BLK_DATA + DATA_LEN - 4(%ebx)
	/* descriptor 3k at BLK_RING + 48k */
	mov %esi, %edi
	imul $48, %edi
	add $BLK_RING, %edi
	mov %esi, %eax
	shl $4, %eax
	add $BLK_HDR, %eax
	mov %eax, (%edi)
	movl $0, 4(%edi)
	movl $16, 8(%edi)
	lea (%esi,%esi,2), %ecx		/* 3k */
	lea 1(%ecx), %edx
	shl $16, %edx
	or $1, %edx			/* flags NEXT, next 3k+1 */
	mov %edx, 12(%edi)
	mov %esi, %eax
	shl $20, %eax
	add $BLK_DATA, %eax
	mov %eax, 16(%edi)
	movl $0, 20(%edi)
	movl $DATA_LEN, 24(%edi)
	lea 2(%ecx), %edx
	shl $16, %edx
	or $3, %edx			/* NEXT | WRITE, next 3k+2 */
	mov %edx, 28(%edi)
	lea BLK_STAT(%esi), %eax
	mov %eax, 32(%edi)
	movl $0, 36(%edi)
	movl $1, 40(%edi)
	movl $2, 44(%edi)		/* WRITE */
	/* avail.ring[(idx + k) % QSIZE] = 3k */
	movzwl BLK_RING + 0x1002, %eax
	add %esi, %eax
	and $(QSIZE - 1), %eax
	mov %cx, BLK_RING + 0x1004(,%eax,2)
	inc %esi
	cmp $NREQ, %esi
	jb 1b
	movzwl BLK_RING + 0x1002, %eax
	add $NREQ, %eax
	mov %ax, BLK_RING + 0x1002	/* all 4 at once */
	mov %ebp, MAILBOX + M_PUB
	movl $0, BLK + QNOTIFY

	/* One rng buffer: descriptor 0. */
	movl $RNG_BUF, RNG_RING
	movl $0, RNG_RING + 4
	movl $64, RNG_RING + 8
	movl $2, RNG_RING + 12		/* WRITE */
	movzwl RNG_RING + 0x1002, %eax
	mov %eax, %edx
	and $(QSIZE - 1), %edx
	movw $0, RNG_RING + 0x1004(,%edx,2)
	inc %eax
	mov %ax, RNG_RING + 0x1002
	movl $0, RNG + QNOTIFY

	/* Wait for both, interrupts on. The handlers end by jumping to wait_check (the loop only reads, so it can
	 * start over anywhere), so no iret is needed: 32-bit iret is one of the instructions the PVM KVM of the
	 * development hosts cannot emulate. */
wait_check:
	sti
2:	mov BLK_RING + 0x2002, %ax
	cmp BLK_RING + 0x1002, %ax
	jne 2b
	mov RNG_RING + 0x2002, %ax
	cmp RNG_RING + 0x1002, %ax
	jne 2b
	cli

	/* Check the 4 requests. */
	xor %esi, %esi
3:	mov $0x31, %al
	cmpb $0, BLK_STAT(%esi)
	jne fail
	lea (,%ebp,4), %edx
	add %esi, %edx
	and $(NMIB - 1), %edx
	shl $11, %edx
	or $TAG, %edx
	mov %esi, %ebx
	shl $20, %ebx
	mov $0x32, %al
	cmp %edx, BLK_DATA(%ebx)
	jne fail
	add $(DATA_LEN / 512 - 1), %edx	/* the last sector's tag */
	mov $0x33, %al
	cmp %edx, BLK_DATA + DATA_LEN - 4(%ebx)
	jne fail
	inc %esi
	cmp $NREQ, %esi
	jb 3b
	mov %ebp, MAILBOX + M_DONE
	inc %ebp
	jmp batch

fail:
	cli
	movzbl %al, %eax
	mov %eax, MAILBOX + M_ERROR
	out %al, $DEBUG_EXIT
4:	hlt
	jmp 4b

/* Interrupt handlers: taken only in the wait loop (above); they drop the frame and start it over. */
isr_blk:
	mov BLK + ISR, %eax
	mov %eax, BLK + ACK
	incl MAILBOX + M_IRQ_BLK
	movl $0, LAPIC + 0xb0		/* EOI */
	add $12, %esp
	jmp wait_check

isr_rng:
	mov RNG + ISR, %eax
	mov %eax, RNG + ACK
	incl MAILBOX + M_IRQ_RNG
	movl $0, LAPIC + 0xb0
	add $12, %esp
	jmp wait_check

isr_spurious:			/* no EOI for the spurious vector */
	add $12, %esp
	jmp wait_check

	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
gdtr:	.word 3 * 8 - 1
	.long gdt
	.balign 4
idtr:	.word 256 * 8 - 1
	.long IDT
	.balign 4
load_end:
