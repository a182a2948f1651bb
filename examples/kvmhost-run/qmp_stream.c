/*
 * qmp_stream: cutting a QMP byte stream into JSON texts, with the size and nesting limits (see qmp_stream.h).
 * A byte at a time, a small state machine: outside a text, white space is skipped and the first other byte starts
 * one; inside, brackets are counted outside strings, and a string's escapes are followed so that a quoted
 * bracket or quote does not count.
 */
#include <stdlib.h>
#include <string.h>
#include "qmp_stream.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_bracket(char c)
{
	return c == '{' || c == '[' || c == '}' || c == ']';
}

void qmp_stream_init(struct qmp_stream *s, size_t max_size, size_t max_depth)
{
	memset(s, 0, sizeof(*s));
	s->max_size = max_size;
	s->max_depth = max_depth;
}

void qmp_stream_fini(struct qmp_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

static void end_text(struct qmp_stream *s)
{
	s->in_text = s->scalar = s->in_string = s->escape = false;
	s->depth = 0;
}

/* Keep @c in the text being read, unless it is being skipped; a result to report, or QMP_STREAM_MORE. */
static enum qmp_stream_result keep(struct qmp_stream *s, char c)
{
	size_t cap;
	char *buf;

	if (s->skipping)
		return QMP_STREAM_MORE;
	if (s->len >= s->max_size) {
		s->skipping = true;
		return QMP_STREAM_TOO_BIG;
	}
	if (s->len == s->cap) {
		cap = s->cap ? s->cap * 2 : 256;
		if (cap > s->max_size)
			cap = s->max_size;
		buf = realloc(s->buf, cap);
		if (!buf) {
			s->skipping = true;
			return QMP_STREAM_NO_MEMORY;
		}
		s->buf = buf;
		s->cap = cap;
	}
	s->buf[s->len++] = c;
	return QMP_STREAM_MORE;
}

/* The text has ended: a text to report, or nothing when it was skipped. */
static enum qmp_stream_result finish(struct qmp_stream *s)
{
	bool skipped = s->skipping;

	end_text(s);
	s->skipping = false;
	if (skipped) {
		s->len = 0;
		return QMP_STREAM_MORE;
	}
	s->text_done = true;
	return QMP_STREAM_TEXT;
}

/* One byte inside a string: follow escapes; a top-level string ends at its closing quote. */
static enum qmp_stream_result string_byte(struct qmp_stream *s, char c)
{
	enum qmp_stream_result r = keep(s, c);

	if (s->escape)
		s->escape = false;
	else if (c == '\\')
		s->escape = true;
	else if (c == '"')
		s->in_string = false;
	if (r == QMP_STREAM_MORE && s->scalar && !s->in_string)
		return finish(s);
	return r;
}

enum qmp_stream_result qmp_stream_feed(struct qmp_stream *s, const char *data, size_t size, size_t *used)
{
	enum qmp_stream_result r = QMP_STREAM_MORE;
	size_t i = 0;

	if (s->text_done) {
		s->text_done = false;
		s->len = 0;
	}
	while (i < size && r == QMP_STREAM_MORE) {
		char c = data[i];

		if (!s->in_text) {
			i++;
			if (is_space(c))
				continue;
			if (c == '}' || c == ']') {
				r = QMP_STREAM_STRAY;
				continue;
			}
			s->in_text = true;
			s->scalar = c != '{' && c != '[';
			s->depth = s->scalar ? 0 : 1;
			s->in_string = c == '"';
			r = keep(s, c);
		} else if (s->in_string) {
			i++;
			r = string_byte(s, c);
		} else if (s->scalar) {
			/* A scalar ends before white space or a bracket, which is not part of it. */
			if (is_space(c) || is_bracket(c) || c == '"') {
				r = finish(s);
				continue;
			}
			i++;
			r = keep(s, c);
		} else {
			i++;
			r = keep(s, c);
			if (c == '"') {
				s->in_string = true;
			} else if (c == '{' || c == '[') {
				if (++s->depth > s->max_depth && !s->skipping) {
					s->skipping = true;
					r = QMP_STREAM_TOO_DEEP;
				}
			} else if ((c == '}' || c == ']') && --s->depth == 0) {
				/* The text is complete, whether or not the byte was kept. */
				enum qmp_stream_result f = finish(s);

				if (r == QMP_STREAM_MORE)
					r = f;
			}
		}
	}
	*used = i;
	return r;
}

const char *qmp_stream_text(const struct qmp_stream *s, size_t *len)
{
	*len = s->len;
	return s->buf;
}
