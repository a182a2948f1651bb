/*
 * qmp_stream: splits the bytes a QMP client sends into JSON texts, the way QEMU's JSON streamer does: a text is an
 * object or array from its opening bracket to the matching close (strings and escapes followed), or a scalar up
 * to the next white space or bracket; several may share a line and one may span many reads and lines. It does not
 * parse (jansson does, on each text); it only bounds: a text longer than the size limit or nested deeper than the
 * nesting limit is reported once and then skipped to its end without being kept, so the stream resynchronises
 * and memory stays bounded whatever a client sends.
 */
#ifndef KVMHOST_RUN_QMP_STREAM_H
#define KVMHOST_RUN_QMP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

enum qmp_stream_result {
	QMP_STREAM_MORE,      /* every byte given was taken; no text complete */
	QMP_STREAM_TEXT,      /* a text is complete: qmp_stream_text() */
	QMP_STREAM_TOO_BIG,   /* the text being read passed the size limit; it is being skipped */
	QMP_STREAM_TOO_DEEP,  /* the text being read passed the nesting limit; it is being skipped */
	QMP_STREAM_STRAY,     /* a '}' or ']' outside any text */
	QMP_STREAM_NO_MEMORY, /* no room for the text being read; it is being skipped */
};

struct qmp_stream {
	size_t max_size, max_depth;
	char *buf; /* the text being read (not NUL-terminated) */
	size_t len, cap;
	size_t depth;		  /* open brackets */
	bool in_text, scalar;	  /* inside a text; it is a scalar (no brackets) */
	bool in_string, escape;	  /* inside a string; after a backslash in it */
	bool skipping, text_done; /* dropping an over-limit text; the last call returned a text */
};

/* A stream for texts of at most @max_size bytes and @max_depth nesting. */
void qmp_stream_init(struct qmp_stream *s, size_t max_size, size_t max_depth);
void qmp_stream_fini(struct qmp_stream *s);
/* Take bytes from @data until something to report (or all @size of them): *used says how many were taken. */
enum qmp_stream_result qmp_stream_feed(struct qmp_stream *s, const char *data, size_t size, size_t *used);
/* After QMP_STREAM_TEXT: the text and its length, valid until the next feed. */
const char *qmp_stream_text(const struct qmp_stream *s, size_t *len);

#endif
