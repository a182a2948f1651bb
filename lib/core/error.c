/*
 * The error model: per-thread last-error message and kvmhost_strerror().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define KH_ERROR_MAX 512

static _Thread_local char kh_last_error[KH_ERROR_MAX];

KVMHOST_API const char *kvmhost_last_error(void)
{
	return kh_last_error;
}

KVMHOST_API const char *kvmhost_strerror(int err)
{
	if (err > 0)
		return "Not an error code (positive value)";
	if (err == 0)
		return "Success";
	/* strerrordesc_np() is thread-safe and returns a static string. */
	const char *s = strerrordesc_np(-err);
	return s ? s : "Unknown error";
}

int kh_fail(int err, const char *func, const char *fmt, ...)
{
	char msg[KH_ERROR_MAX];
	va_list ap;

	if (err <= 0)
		err = EIO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Truncation is acceptable: the message is for humans. Using the result
	 * tells GCC so. */
	/* A message that wraps an inner failure's text ("...: %s", kvmhost_last_error()) already ends with
	 * the errno's text when the error is passed on unchanged: say it once. */
	{
		const char *es = kvmhost_strerror(-err);
		size_t ml = strlen(msg), el = strlen(es);
		int ends = ml >= el + 2 && strcmp(msg + ml - el, es) == 0 && msg[ml - el - 2] == ':' &&
			   msg[ml - el - 1] == ' ';

		if (snprintf(kh_last_error, sizeof(kh_last_error), ends ? "%s: %s" : "%s: %s: %s", func, msg, es) < 0)
			kh_last_error[0] = '\0';
	}
	if (kh_log_enabled(KVMHOST_LOG_DEBUG))
		kh_log(KVMHOST_LOG_DEBUG, "%s", kh_last_error);
	return -err;
}
