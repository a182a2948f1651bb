/*
 * The guide's disk guest (docs/guide.md, steps 2 and 4): a tiny Multiboot kernel (32-bit protected mode, paging
 * off, no interrupts) that drives the machine's first virtio device, a virtio-blk on virtio-mmio at 0xd0000000,
 * by polling: it resets and initialises the device (VERSION_1, queue 0 of 16 entries), reads sector 0 with one
 * request (header, 512-byte buffer, status), writes "disk: " and the sector's first line to COM1 (0x3f8), then
 * the request's status byte to the debug-exit port (0xf4), which stops the machine: 0 when all went well, else
 * the number of the step that failed (1-5 device checks, 6 the request's status).
 */
#define COM1	   0x3f8
#define DEBUG_EXIT 0xf4
#define BLK	   0xd0000000 /* where a machine puts virtio-mmio device 0 */
#define RING	   0x300000   /* descriptors +0, avail ring +0x1000, used ring +0x2000 */
#define REQ_HDR	   0x303000   /* 16 bytes: type, reserved, sector */
#define REQ_STAT   0x303100
#define REQ_DATA   0x304000
#define QSIZE	   16

/* virtio-mmio registers (version 2) */
#define MAGIC	  0x000
#define VERSION	  0x004
#define DEVICE_ID 0x008
#define DFEAT	  0x010
#define DFEAT_SEL 0x014
#define GFEAT	  0x020
#define GFEAT_SEL 0x024
#define QSEL	  0x030
#define QNUM_MAX  0x034
#define QNUM	  0x038
#define QREADY	  0x044
#define QNOTIFY	  0x050
#define STATUS	  0x070
#define QDESC	  0x080
#define QDRIVER	  0x090
#define QDEVICE	  0x0a0

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010000 /* a.out kludge: the load addresses are in the header */

	.code32
	.text
	.global _start
_start:
	jmp entry

	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header			/* header_addr */
	.long _start			/* load_addr */
	.long load_end			/* load_end_addr */
	.long load_end			/* bss_end_addr: no bss */
	.long entry			/* entry_addr */

entry:
	mov $BLK, %ebx
	mov $1, %al
	cmpl $0x74726976, MAGIC(%ebx)	/* "virt" */
	jne fail
	mov $2, %al
	cmpl $2, VERSION(%ebx)
	jne fail
	mov $3, %al
	cmpl $2, DEVICE_ID(%ebx)	/* block */
	jne fail
	movl $0, STATUS(%ebx)		/* reset */
	movl $3, STATUS(%ebx)		/* ACKNOWLEDGE | DRIVER */
	movl $1, DFEAT_SEL(%ebx)
	mov $4, %al
	testl $1, DFEAT(%ebx)		/* VERSION_1 is feature bit 32 */
	jz fail
	movl $1, GFEAT_SEL(%ebx)
	movl $1, GFEAT(%ebx)
	movl $0, GFEAT_SEL(%ebx)
	movl $0, GFEAT(%ebx)
	movl $0xb, STATUS(%ebx)		/* | FEATURES_OK */
	mov $5, %al
	testl $8, STATUS(%ebx)
	jz fail
	movl $0, QSEL(%ebx)
	cmpl $QSIZE, QNUM_MAX(%ebx)
	jb fail
	movl $QSIZE, QNUM(%ebx)
	movl $RING, QDESC(%ebx)
	movl $0, QDESC+4(%ebx)
	movl $(RING + 0x1000), QDRIVER(%ebx)
	movl $0, QDRIVER+4(%ebx)
	movl $(RING + 0x2000), QDEVICE(%ebx)
	movl $0, QDEVICE+4(%ebx)
	movl $1, QREADY(%ebx)
	movl $0xf, STATUS(%ebx)		/* | DRIVER_OK */

	/* The request: VIRTIO_BLK_T_IN of sector 0, three descriptors chained 0 -> 1 -> 2. */
	movl $0, REQ_HDR		/* type IN */
	movl $0, REQ_HDR+4
	movl $0, REQ_HDR+8		/* sector, 64 bits */
	movl $0, REQ_HDR+12
	movb $0xff, REQ_STAT
	mov $RING, %edi
	movl $REQ_HDR, 0(%edi)		/* desc 0: addr, len 16, flags NEXT, next 1 */
	movl $0, 4(%edi)
	movl $16, 8(%edi)
	movw $1, 12(%edi)
	movw $1, 14(%edi)
	movl $REQ_DATA, 16(%edi)	/* desc 1: 512 bytes, NEXT | WRITE, next 2 */
	movl $0, 20(%edi)
	movl $512, 24(%edi)
	movw $3, 28(%edi)
	movw $2, 30(%edi)
	movl $REQ_STAT, 32(%edi)	/* desc 2: 1 byte, WRITE */
	movl $0, 36(%edi)
	movl $1, 40(%edi)
	movw $2, 44(%edi)
	movw $0, 46(%edi)
	movw $1, RING+0x1000		/* avail.flags: NO_INTERRUPT (we poll) */
	movw $0, RING+0x1000+4		/* avail.ring[0] = desc 0 */
	movw $1, RING+0x1000+2		/* avail.idx = 1 publishes it */
	movl $0, QNOTIFY(%ebx)
1:	cmpw $1, RING+0x2000+2		/* used.idx */
	jne 1b

	mov $message, %esi		/* "disk: " */
	mov $COM1, %dx
2:	lodsb
	test %al, %al
	jz 3f
	out %al, %dx
	jmp 2b
3:	mov $REQ_DATA, %esi		/* the sector's first line */
	mov $(REQ_DATA + 512), %ecx
4:	cmp %ecx, %esi
	je 5f
	lodsb
	test %al, %al
	jz 5f
	out %al, %dx
	cmp $'\n', %al
	jne 4b
5:	mov $6, %al
	cmpb $0, REQ_STAT		/* VIRTIO_BLK_S_OK */
	jne fail
	xor %al, %al
fail:	mov $DEBUG_EXIT, %dx
	out %al, %dx
6:	hlt
	jmp 6b

message:
	.asciz "disk: "

	.balign 4
load_end:
