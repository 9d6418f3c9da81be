// SPDX-License-Identifier: GPL-2.0
/*
 * espressoctl: the operator's CLI, a thin client of espressod's control socket.
 *
 * Wire protocol (unix stream socket, any number of requests per connection):
 *   client  one request line: tokens joined by single spaces, ended by "\n",
 *           at most CTL_LINE_MAX bytes with the "\n"; "-j" first asks for JSON
 *   server  "ESPRESSO <code> <len>\n", then exactly <len> bytes of body;
 *           code 0: the body is the output, printed as is;
 *           else:   the body is a one-line error message
 *   monitor "ESPRESSO 0 0\n", then event lines until the server closes
 *   trace   the same, one line per packet
 *   stop    the same, one last line once espressod has stopped, then EOF
 *
 * espressod parses the commands. The client only replaces "key-file FILE" in
 * "sa add" by "key HEX" read from FILE (so no key shows in ps or in the shell's
 * history) and runs -b FILE as "batch begin", one request per line of FILE,
 * "batch end", on one connection, with a few requests in flight.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/ctl.h"
#include "espresso/version.h"

#define CTL_LINE_MAX 4096	/* a request line, its "\n" included */
#define CTL_HDR_MAX 64		/* "ESPRESSO <code> <len>\n" */
#define KEY_FILE_MAX 4096	/* bytes read from a key-file */
#define ERR_MSG_MAX 4096	/* error message kept from a reply body */
#define REPLY_BUF 65536		/* socket read buffer */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

enum reply {
	REPLY_OK,	/* code 0, body printed */
	REPLY_FAILED,	/* code != 0, message printed; the connection is usable */
	REPLY_BROKEN,	/* truncated, malformed or unreadable; message printed */
};

struct conn {
	const char *path;
	int fd;
	FILE *in;	/* buffered reader over fd; requests go to fd directly */
};

struct request {
	char line[CTL_LINE_MAX + 1];
	size_t len;
	char key[KEY_FILE_MAX + 1];	/* the hex read from a key-file */
	bool monitor;
};

/* "FILE:LINENO: " while a batch line is handled, else "". */
static char where[PATH_MAX + 32];
static bool quiet; /* draining a batch's skipped lines: no messages */

static const char synopsis[] =
	"usage: espressoctl [-i INSTANCE | -s SOCKET] [-j] COMMAND [ARGS...]\n"
	"       espressoctl [-i INSTANCE | -s SOCKET] [-j] -b FILE\n"
	"       espressoctl --help | -h\n"
	"       espressoctl --version | -V\n";

static void help(void)
{
	fputs(synopsis, stdout);
	fputs("\n"
	"options:\n"
	"  -i INSTANCE    talk to " CTL_DIR "/INSTANCE.sock (default: the only one)\n"
	"  -s SOCKET      talk to the control socket at path SOCKET\n"
	"  -j             ask espressod for JSON output\n"
	"  -b FILE        run FILE's lines as commands in one batch (\"-\": standard\n"
	"                 input), skipping blank lines and '#' comments; stops at the\n"
	"                 first failure\n"
	"  -h, --help     print this help\n"
	"  -V, --version  print the version\n"
	"\n"
	"commands (espressod parses them):\n"
	"  show sa        SAs: SPI, direction, tunnel, counters, lifetimes\n"
	"  show tunnels   tunnels and their settings\n"
	"  show routes    routes and the tunnel each goes into\n"
	"  show stats     per queue: rx, tx, drops by reason\n"
	"  show frames    audit of every UMEM frame's owner\n"
	"  show xdp       the XDP program's counters\n"
	"  show peers     P2MP tunnels and their peers (next hop, remote, SAs)\n"
	"  tunnel add NAME local ADDR remote ADDR [encap esp|udp] [cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305] [replay-window N] [esn on|off] [fragment inner|outer] [remote-port N] [keepalive SECONDS] [local-port N] [vrf NAME]\n"
	"                 vrf: the tunnel's routing table (a VRF of the config)\n"
	"  tunnel add NAME local ADDR p2mp on [encap ...] [cipher ...] ...\n"
	"                 a P2MP tunnel (hub): no remote; peers come with peer add\n"
	"  tunnel del NAME\n"
	"  peer add HUB NEXTHOP remote ADDR [remote-port N]\n"
	"                 a peer of P2MP tunnel HUB: routes via NEXTHOP go to ADDR\n"
	"  peer del HUB NEXTHOP   the peer, its SAs and routes\n"
	"  sa add TUNNEL in|out spi SPI key HEX|key-file FILE [soft-lifetime SECONDS] [hard-lifetime SECONDS] [soft-bytes N] [hard-bytes N] [soft-packets N] [hard-packets N] [reqid N] [child NAME] [peer NEXTHOP]\n"
	"  sa del SPI [in|out]\n"
	"  sa alloc       an unused inbound SPI, reserved for 180 s (IKE's get_spi)\n"
	"  sa update SPI remote ADDR [sport N dport N]   new peer address and ports\n"
	"  route add PREFIX tunnel NAME [via NEXTHOP] [ecmp on|off]\n"
	"  route del PREFIX [vrf NAME]\n"
	"  reload         re-read the configuration\n"
	"  monitor        print espressod's events as they happen, until it closes\n"
	"  monitor ike    the same, for charon's plugin: when this connection closes\n"
	"                 (charon gone), espressod deletes the tunnels holding SAs\n"
	"                 of origin ike\n"
	"  trace N [in|out] [spi SPI] [tunnel NAME] [drops] [timeout SECONDS]\n"
	"                 the next N packets' way through the stages (drop reason\n"
	"                 if dropped); ends after N packets or SECONDS (default 10)\n"
	"  pcap start FILE [in|out|both] [snaplen N]\n"
	"                 write inner packets (after decryption: in, before\n"
	"                 encryption: out) to FILE, a pcap file (mode 600)\n"
	"  pcap stop [FILE]  close it; says how many packets were written and lost\n"
	"  show policies  the SPD of LAN plaintext (router mode), in priority order\n"
	"  show lans      router mode's LAN interfaces: ifindex, MAC, MTU, XSK queues,\n"
	"                 addresses, known hosts, frames in and out, held, XSK drops\n"
	"  policy add ID [priority N] [src PREFIX] [dst PREFIX] [proto tcp|udp|icmp|any|N] [sport N[-M]] [dport N[-M]] action protect|bypass|discard [tunnel NAME]\n"
	"  policy del ID\n"
	"  stop           a clean stop, as SIGTERM: workers, routes, tun, XDP\n"
	"                 program and pins removed; returns once espressod exited\n"
	"  stop keep      a stop for a restart, as SIGUSR2: the state saved as in a\n"
	"                 clean stop, but the tun, its routes and the XDP program\n"
	"                 stay (nothing protected leaves in clear, ESP is dropped)\n"
	"                 for the next start to adopt\n"
	"\n"
	"keys: \"key-file FILE\" is the safe way to give a key: espressoctl reads the hex\n"
	"  key from FILE (keep it mode 600; whitespace and a 0x prefix are allowed) and\n"
	"  sends it over the socket. \"key HEX\" on the command line shows in ps and in\n"
	"  the shell's history.\n"
	"socket: " CTL_DIR "/INSTANCE.sock, root only.\n"
	"exit status: 0 success, 1 espressod refused or could not be reached,\n"
	"  2 usage error.\n",
	stdout);
}

__attribute__((format(printf, 1, 2)))
static void complain(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	fflush(stdout);		/* keep what came before the error before it */
	fprintf(stderr, "espressoctl: %s", where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("espressoctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%sTry 'espressoctl --help'.\n", synopsis);
	return EXIT_USAGE;
}

/* ---- requests ---------------------------------------------------------- */

/*
 * Read the hex key in FILE into hex[hexsize]: whitespace around it and a 0x
 * prefix stripped, hex digits only. Never prints key bytes.
 */
static int key_file_read(const char *file, char *hex, size_t hexsize)
{
	unsigned char buf[KEY_FILE_MAX + 1];
	size_t n = 0, a, b, i;
	struct stat st;
	ssize_t r;
	int fd, ret = -1;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		complain("key-file %s: %s", file, strerror(errno));
		return -1;
	}
	if (!fstat(fd, &st) && (st.st_mode & (S_IRGRP | S_IROTH)))
		complain("warning: key-file %s is readable by group or others; "
			 "chmod 600 it", file);
	while (n < sizeof(buf)) {
		r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			complain("key-file %s: %s", file, strerror(errno));
			goto out;
		}
		if (!r)
			break;
		n += r;
	}
	if (n > KEY_FILE_MAX) {
		complain("key-file %s: longer than %d bytes", file, KEY_FILE_MAX);
		goto out;
	}
	for (a = 0; a < n && isspace(buf[a]); a++)
		;
	for (b = n; b > a && isspace(buf[b - 1]); b--)
		;
	if (b - a >= 2 && buf[a] == '0' && (buf[a + 1] == 'x' || buf[a + 1] == 'X'))
		a += 2;
	for (i = a; i < b && isxdigit(buf[i]); i++)
		;
	if (a == b || i < b || b - a >= hexsize) {
		complain("key-file %s: not hex", file);
		goto out;
	}
	memcpy(hex, buf + a, b - a);
	hex[b - a] = '\0';
	ret = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return ret;
}

static void request_wipe(struct request *rq)
{
	explicit_bzero(rq->line, sizeof(rq->line));
	explicit_bzero(rq->key, sizeof(rq->key));
	rq->len = 0;
}

/* Append token s to the line; -1 when the line would outgrow CTL_LINE_MAX. */
static int request_append(struct request *rq, const char *s)
{
	size_t n = strlen(s), sep = rq->len ? 1 : 0;

	if (rq->len + sep + n + 1 > CTL_LINE_MAX)	/* + 1: the "\n" */
		return -1;
	if (sep)
		rq->line[rq->len++] = ' ';
	memcpy(rq->line + rq->len, s, n);
	rq->len += n;
	rq->line[rq->len] = '\0';
	return 0;
}

/* Describe a bad token without echoing a key. */
static void token_complain(char **tok, int i, const char *what)
{
	char shown[48];
	size_t k = 0;
	const unsigned char *s = (const unsigned char *)tok[i];

	if (i > 0 && !strcmp(tok[i - 1], "key")) {
		complain("token %d (the key) %s", i + 1, what);
		return;
	}
	for (; *s && k + 5 < sizeof(shown); s++) {
		if (isprint(*s) && *s != ' ')
			shown[k++] = *s;
		else
			k += snprintf(shown + k, sizeof(shown) - k, "\\x%02x", *s);
	}
	shown[k] = '\0';
	complain("token %d \"%s%s\" %s", i + 1, shown, *s ? "..." : "", what);
}

/*
 * Build the request line for tok[0..ntok) into rq (with its "\n"), "-j" first
 * when json. key-file FILE in "sa add" becomes key HEX. Complains and returns
 * -1 on a bad token, a line too long or a bad key-file; rq is wiped then.
 */
static int request_build(struct request *rq, char **tok, int ntok, bool json)
{
	bool sa_add = ntok >= 2 && !strcmp(tok[0], "sa") && !strcmp(tok[1], "add");
	/* pcap start|stop FILE: FILE made absolute */
	bool pcap_start = ntok >= 3 && !strcmp(tok[0], "pcap") &&
			  (!strcmp(tok[1], "start") || !strcmp(tok[1], "stop"));
	bool have_key_file = false;
	int i;

	rq->len = 0;
	rq->line[0] = '\0';
	rq->key[0] = '\0';
	/* monitor and trace: the reply is followed by a stream of lines;
	 * stop: by one line when espressod is gone (EOF at its exit) */
	rq->monitor = ntok > 0 && (!strcmp(tok[0], "monitor") ||
				   !strcmp(tok[0], "trace") ||
				   !strcmp(tok[0], "stop"));
	if (json)
		request_append(rq, "-j");
	for (i = 0; i < ntok; i++) {
		if (sa_add && !strcmp(tok[i], "key-file")) {
			if (i + 1 >= ntok) {
				complain("key-file needs a FILE");
				goto bad;
			}
			if (have_key_file) {
				complain("key-file given twice");
				goto bad;
			}
			have_key_file = true;
			if (key_file_read(tok[++i], rq->key, sizeof(rq->key)))
				goto bad;
			if (request_append(rq, "key") || request_append(rq, rq->key))
				goto too_long;
			continue;
		}
		if (pcap_start && i == 2 && tok[i][0] != '/' && *tok[i]) {
			/* espressod does not share our working directory */
			char cwd[PATH_MAX], abs[PATH_MAX + 1];

			if (!getcwd(cwd, sizeof(cwd)) ||
			    snprintf(abs, sizeof(abs), "%s/%s", cwd, tok[i]) >=
			    (int)sizeof(abs)) {
				complain("pcap %s: cannot make %s an absolute "
					 "path", tok[1], tok[i]);
				goto bad;
			}
			if (strpbrk(abs, " \t\n\v\f\r")) {
				token_complain(tok, i, "contains whitespace or a "
					       "newline");
				goto bad;
			}
			if (request_append(rq, abs))
				goto too_long;
			continue;
		}
		if (!*tok[i]) {
			token_complain(tok, i, "is empty");
			goto bad;
		}
		if (strpbrk(tok[i], " \t\n\v\f\r")) {
			token_complain(tok, i, "contains whitespace or a newline");
			goto bad;
		}
		if (request_append(rq, tok[i]))
			goto too_long;
	}
	rq->line[rq->len++] = '\n';
	return 0;
too_long:
	complain("request longer than %d bytes", CTL_LINE_MAX);
bad:
	request_wipe(rq);
	return -1;
}

/* ---- the connection ---------------------------------------------------- */

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	c->path = path;
	c->in = NULL;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun))) {
		complain("cannot reach %s: %s (is espressod running? root only)",
			 path, strerror(errno));
		goto fail;
	}
	c->in = fdopen(c->fd, "r");
	if (!c->in) {
		complain("%s: %s", path, strerror(errno));
		goto fail;
	}
	setvbuf(c->in, NULL, _IOFBF, REPLY_BUF);
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return -1;
}

static void conn_close(struct conn *c)
{
	if (c->in)
		fclose(c->in);	/* closes fd */
	else if (c->fd >= 0)
		close(c->fd);
	c->in = NULL;
	c->fd = -1;
}

/* Send all of buf; 0 or an errno value, nothing printed. */
static int conn_send_quiet(struct conn *c, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		buf += n;
		len -= n;
	}
	return 0;
}

static int conn_send(struct conn *c, const char *buf, size_t len)
{
	int err = conn_send_quiet(c, buf, len);

	if (err)
		complain("%s: send: %s", c->path, strerror(err));
	return err ? -1 : 0;
}

static enum reply conn_broken(struct conn *c)
{
	if (ferror(c->in))
		complain("%s: read: %s", c->path, strerror(errno));
	else
		complain("%s: connection closed before the reply was complete",
			 c->path);
	return REPLY_BROKEN;
}

/* "ESPRESSO <code> <len>\n": decimal code (maybe negative), decimal len. */
static int header_parse(const char *h, long *code, unsigned long long *len)
{
	char *end;

	if (strncmp(h, "ESPRESSO ", 9))
		return -1;
	h += 9;
	if (!isdigit((unsigned char)h[*h == '-']))
		return -1;
	errno = 0;
	*code = strtol(h, &end, 10);
	if (errno || *end != ' ' || *code < INT_MIN || *code > INT_MAX)
		return -1;
	h = end + 1;
	if (!isdigit((unsigned char)*h))
		return -1;
	errno = 0;
	*len = strtoull(h, &end, 10);
	if (errno || strcmp(end, "\n"))
		return -1;
	return 0;
}

/*
 * Read one reply. Code 0: copy the body to stdout. Else complain with the
 * body as the message (its trailing newline dropped).
 */
static enum reply reply_read(struct conn *c)
{
	char hdr[CTL_HDR_MAX], buf[REPLY_BUF], msg[ERR_MSG_MAX + 1];
	unsigned long long len;
	size_t n, want, kept = 0;
	long code;

	if (!fgets(hdr, sizeof(hdr), c->in))
		return conn_broken(c);
	if (!strchr(hdr, '\n') && (feof(c->in) || ferror(c->in)))
		return conn_broken(c);
	if (header_parse(hdr, &code, &len)) {
		complain("%s: malformed reply header (is espressod older or newer "
			 "than espressoctl " ESPRESSO_VERSION "?)", c->path);
		return REPLY_BROKEN;
	}
	while (len) {
		want = len < sizeof(buf) ? len : sizeof(buf);
		n = fread(buf, 1, want, c->in);
		if (n < want)
			return conn_broken(c);
		len -= n;
		if (!code) {
			if (!quiet) /* a skipped batch line's: not shown */
				fwrite(buf, 1, n, stdout);
			continue;
		}
		if (kept < ERR_MSG_MAX) {
			want = ERR_MSG_MAX - kept < n ? ERR_MSG_MAX - kept : n;
			memcpy(msg + kept, buf, want);
			kept += want;
		}
	}
	if (!code)
		return REPLY_OK;
	while (kept && (msg[kept - 1] == '\n' || msg[kept - 1] == '\r'))
		kept--;
	msg[kept] = '\0';
	if (kept)
		complain("%s", msg);
	else
		complain("failed (code %ld, no message)", code);
	return REPLY_FAILED;
}

/* After monitor's reply: print each event line as it comes, until EOF. */
static int monitor_stream(struct conn *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = EXIT_OK;

	while ((n = getline(&line, &cap, c->in)) > 0) {
		fwrite(line, 1, n, stdout);
		if (fflush(stdout))
			break;
	}
	if (ferror(c->in)) {
		complain("%s: read: %s", c->path, strerror(errno));
		ret = EXIT_FAIL;
	}
	free(line);
	return ret;
}

/* Send rq, wipe it, read the reply. */
static enum reply request_run(struct conn *c, struct request *rq)
{
	int r = conn_send(c, rq->line, rq->len);

	request_wipe(rq);
	return r ? REPLY_BROKEN : reply_read(c);
}

/* ---- commands and batches ---------------------------------------------- */

static int command_run(struct conn *c, struct request *rq)
{
	bool monitor = rq->monitor;

	switch (request_run(c, rq)) {
	case REPLY_OK:
		return monitor ? monitor_stream(c) : EXIT_OK;
	default:
		return EXIT_FAIL;
	}
}

/* Split line on blanks into tok; -1 when there are more than max tokens. */
static int split_blanks(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			return n;
		if (n == max)
			return -1;
		tok[n++] = p;
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
}

static enum reply batch_send_plain(struct conn *c, const char *line)
{
	if (conn_send(c, line, strlen(line)))
		return REPLY_BROKEN;
	return reply_read(c);
}

/*
 * A batch keeps up to BATCH_WINDOW requests in flight (a round trip each
 * would make 40,000 lines take seconds): replies come back in order, each
 * matched to its line. After a failed line espressod skips the rest of the
 * batch (those replies are read quietly), so the batch still stops at the
 * first error. The window keeps both sides' socket buffers from filling.
 */
#define BATCH_WINDOW 32

struct pending {
	size_t line[BATCH_WINDOW];
	unsigned int head, n;
};

/* Read the oldest reply in flight; REPLY_* as reply_read. */
static enum reply batch_reap(struct conn *c, struct pending *pq,
			     const char *name, bool *failed)
{
	enum reply r;

	snprintf(where, sizeof(where), "%s:%zu: ", name, pq->line[pq->head]);
	pq->head = (pq->head + 1) % BATCH_WINDOW;
	pq->n--;
	quiet = *failed;
	r = reply_read(c);
	quiet = false;
	where[0] = '\0';
	if (r == REPLY_FAILED)
		*failed = true;
	return r;
}

static int batch_run(struct conn *c, FILE *f, const char *name, bool json)
{
	static struct request rq;
	static char *tok[CTL_LINE_MAX / 2 + 1];
	struct pending pq = { .n = 0 };
	char *line = NULL, *p;
	size_t cap = 0, lineno = 0;
	bool failed = false;
	ssize_t n;
	int ntok, err, ret = EXIT_OK;
	enum reply r;

	if (batch_send_plain(c, "batch begin\n") != REPLY_OK)
		return EXIT_FAIL;
	while (!failed && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%zu: ", name, lineno);
		ntok = split_blanks(p, tok, sizeof(tok) / sizeof(tok[0]));
		if (ntok < 0) {
			complain("request longer than %d bytes", CTL_LINE_MAX);
			ret = EXIT_USAGE;
		} else if (request_build(&rq, tok, ntok, json)) {
			ret = EXIT_USAGE;
		} else if (rq.monitor) {
			request_wipe(&rq);
			complain("%s cannot run in a batch", tok[0]);
			ret = EXIT_USAGE;
		}
		explicit_bzero(line, n);
		where[0] = '\0';
		if (ret)
			break;
		err = conn_send_quiet(c, rq.line, rq.len);
		request_wipe(&rq);
		if (err) {
			/*
			 * The server closed while requests were in flight: the
			 * reason is in their replies (or their absence), so
			 * report that line rather than this send.
			 */
			while (pq.n)
				if (batch_reap(c, &pq, name, &failed) ==
				    REPLY_BROKEN)
					break;
			if (!pq.n && !failed)
				complain("%s: send: %s", c->path,
					 strerror(err));
			ret = EXIT_FAIL;
			goto out;	/* no batch end on a broken connection */
		}
		pq.line[(pq.head + pq.n++) % BATCH_WINDOW] = lineno;
		if (pq.n == BATCH_WINDOW &&
		    batch_reap(c, &pq, name, &failed) == REPLY_BROKEN) {
			ret = EXIT_FAIL;
			goto out;
		}
	}
	while (pq.n) {
		if (batch_reap(c, &pq, name, &failed) == REPLY_BROKEN) {
			ret = EXIT_FAIL;
			goto out;
		}
	}
	if (failed && !ret)
		ret = EXIT_FAIL;
	if (!ret && ferror(f)) {
		complain("%s: read: %s", name, strerror(errno));
		ret = EXIT_FAIL;
	}
	where[0] = '\0';
	r = batch_send_plain(c, "batch end\n");
	if (r != REPLY_OK && !ret)
		ret = EXIT_FAIL;
out:
	where[0] = '\0';
	if (line)
		explicit_bzero(line, cap);
	free(line);
	return ret;
}

/* ---- the socket path --------------------------------------------------- */

/* The only CTL_DIR/ *.sock into path. Returns 0 or an exit code. */
static int only_socket(char *path, size_t size)
{
	glob_t g;
	int r, ret = EXIT_OK;

	r = glob(CTL_DIR "/*.sock", 0, NULL, &g);
	if (r == GLOB_NOMATCH || (!r && !g.gl_pathc)) {
		complain("cannot reach espressod: no socket in " CTL_DIR
			 " (is espressod running? root only)");
		ret = EXIT_FAIL;
	} else if (r) {
		complain("cannot reach espressod: cannot read " CTL_DIR
			 " (is espressod running? root only)");
		ret = EXIT_FAIL;
	} else if (g.gl_pathc > 1) {
		complain("%zu sockets in " CTL_DIR "; name one with -i INSTANCE",
			 g.gl_pathc);
		ret = EXIT_USAGE;
	} else if (snprintf(path, size, "%s", g.gl_pathv[0]) >= (int)size) {
		complain("%s: path too long", g.gl_pathv[0]);
		ret = EXIT_FAIL;
	}
	globfree(&g);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct request rq;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *instance = NULL, *sock = NULL, *batch = NULL, *name = NULL;
	bool json = false;
	struct conn c;
	FILE *bf = NULL;
	struct stat st;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:i:s:jb:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			instance = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			batch = optarg;
			break;
		case 'h':
			help();
			return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
		case 'V':
			printf("espressoctl " ESPRESSO_VERSION "\n");
			return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
		case ':':
			return usage_error("option -%c needs an argument", optopt);
		default:
			if (optopt)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (instance && sock)
		return usage_error("give -i INSTANCE or -s SOCKET, not both");
	if (batch && optind < argc)
		return usage_error("-b FILE takes no COMMAND");
	if (!batch && optind >= argc)
		return usage_error("no command");

	if (sock) {
		if (!*sock || strlen(sock) >= sizeof(path))
			return usage_error("-s %s: not a socket path (at most %zu bytes)",
					   sock, sizeof(path) - 1);
		strcpy(path, sock);
	} else if (instance) {
		if (!*instance || strchr(instance, '/') ||
		    snprintf(path, sizeof(path), CTL_DIR "/%s.sock", instance) >=
		    (int)sizeof(path))
			return usage_error("-i %s: not an instance name", instance);
	}

	if (batch) {
		name = strcmp(batch, "-") ? batch : "<stdin>";
		bf = strcmp(batch, "-") ? fopen(batch, "re") : stdin;
		if (!bf || (!fstat(fileno(bf), &st) && S_ISDIR(st.st_mode))) {
			complain("-b %s: %s", batch, strerror(bf ? EISDIR : errno));
			return EXIT_USAGE;
		}
	} else if (request_build(&rq, argv + optind, argc - optind, json)) {
		return EXIT_USAGE;
	}

	if (!sock && !instance && (ret = only_socket(path, sizeof(path)))) {
		request_wipe(&rq);
		return ret;
	}
	if (conn_open(&c, path)) {
		request_wipe(&rq);
		return EXIT_FAIL;
	}
	ret = batch ? batch_run(&c, bf, name, json) : command_run(&c, &rq);
	conn_close(&c);
	if (bf && bf != stdin)
		fclose(bf);
	if (fflush(stdout) || ferror(stdout)) {
		complain("standard output: %s", strerror(errno));
		ret = EXIT_FAIL;
	}
	return ret;
}
