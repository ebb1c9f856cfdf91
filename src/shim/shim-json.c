/* berth-shim: the little JSON the shim reads and writes: string escaping, one field of a line. */
#include "shim.h"

/* Length of the valid UTF-8 sequence at p, or 0: Go's utf8.DecodeRune rules. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], min;
	size_t len;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, min = 0x80, c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, min = 0x800, c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, min = 0x10000, c &= 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string exactly as dockerd's json-file driver writes the "log" value
 * (its ffjson-derived encoder): `"` and `\` escaped, \n and \r short, every
 * other control byte (tab included) as \u00XX, <>& as \u003c \u003e \u0026,
 * U+2028/U+2029 escaped, each invalid UTF-8 byte as \ufffd.
 */
/* The escape for an ASCII byte, or 0 if it is written as is. */
static size_t json_escape_ascii(unsigned char c, char esc[8])
{
	static const char hex[] = "0123456789abcdef";
	if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&')
		return 0;
	esc[0] = '\\';
	if (c == '"' || c == '\\') {
		esc[1] = (char)c;
		return 2;
	}
	if (c == '\n' || c == '\r') {
		esc[1] = c == '\n' ? 'n' : 'r';
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

void json_append_string(struct buf *out, const unsigned char *s, size_t n)
{
	size_t start = 0, i = 0;
	buf_append(out, "\"", 1);
	while (i < n) {
		char esc[8];
		size_t esc_len, step = 1;
		if (s[i] < 0x80) {
			esc_len = json_escape_ascii(s[i], esc);
		} else {
			step = utf8_seq_len(s + i, n - i);
			if (step == 0) {
				step = 1;
				esc_len = 6;
				memcpy(esc, "\\ufffd", 6);
			} else if (step == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
				esc_len = 6;
				memcpy(esc, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			} else {
				esc_len = 0;
			}
		}
		if (esc_len) {
			buf_append(out, s + start, i - start);
			buf_append(out, esc, esc_len);
			start = i + step;
		}
		i += step;
	}
	buf_append(out, s + start, n - start);
	buf_append(out, "\"", 1);
}

static size_t utf8_encode(unsigned cp, char *out)
{
	if (cp < 0x80)
		return out[0] = (char)cp, 1;
	if (cp < 0x800)
		return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
		       out[2] = (char)(0x80 | (cp & 0x3f)), 3;
	return out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
	       out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* Decodes the JSON string body at p (after its opening quote) into out. */
static void json_unescape(const char *p, char *out, size_t n)
{
	size_t o = 0;
	while (*p && *p != '"' && o + 5 < n) {
		if (*p != '\\') {
			out[o++] = *p++;
			continue;
		}
		char e = p[1];
		unsigned cp;
		p += 2;
		switch (e) {
		case 'n': case 'r': case 't': out[o++] = ' '; break; /* one line for the daemon */
		case 'b': case 'f': break;
		case 'u':
			if (hex4(p, &cp) < 0)
				return (void)(out[o] = '\0');
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
				unsigned lo;
				if (hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			o += utf8_encode(cp, out + o);
			break;
		case '\0': p--; break;
		default: out[o++] = e; break;
		}
	}
	out[o] = '\0';
}

/* The string value of "key" in a one-line JSON object (runc's and crun's log lines). */
int json_field(const char *line, const char *key, char *out, size_t n)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\"", key);
	for (const char *p = strstr(line, pat); p; p = strstr(p + 1, pat)) {
		const char *q = p + strlen(pat);
		while (*q == ' ')
			q++;
		if (*q++ != ':')
			continue;
		while (*q == ' ')
			q++;
		if (*q != '"')
			continue;
		json_unescape(q + 1, out, n);
		return 0;
	}
	return -1;
}
