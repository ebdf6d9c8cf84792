/*
 * The reference floor for bench/milter/run.sh (FLOOR=1): a milter on Sendmail's own libmilter
 * (C, a thread per connection) that takes the same packets as `mamori milter` (connect, sender,
 * recipients, headers and body, with no reply asked before the end of the message) and accepts
 * every message unread. What it costs Postfix is what the milter protocol costs, whoever
 * implements it.
 *
 *   apt-get install -y libmilter-dev
 *   cc -O2 -o accept_all_c bench/milter/accept_all.c -lmilter -lpthread
 *   ./accept_all_c unix:/path/to/socket
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <libmilter/mfapi.h>

static sfsistat on_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr) { return SMFIS_NOREPLY; }
static sfsistat on_sender(SMFICTX *ctx, char **argv) { return SMFIS_NOREPLY; }
static sfsistat on_recipient(SMFICTX *ctx, char **argv) { return SMFIS_NOREPLY; }
static sfsistat on_header(SMFICTX *ctx, char *name, char *value) { return SMFIS_NOREPLY; }
static sfsistat on_end_of_header(SMFICTX *ctx) { return SMFIS_NOREPLY; }
static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t len) { return SMFIS_NOREPLY; }
static sfsistat on_end_of_message(SMFICTX *ctx) { return SMFIS_ACCEPT; }

static sfsistat on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3) {
    const unsigned long wanted = SMFIP_NOHELO | SMFIP_NODATA | SMFIP_NOUNKNOWN | SMFIP_NR_CONN |
                                 SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH |
                                 SMFIP_NR_BODY;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_QUARANTINE);
    *pf1 = f1 & wanted;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv) {
    struct smfiDesc desc = {
        .xxfi_name = "accept_all",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE,
        .xxfi_connect = on_connect,
        .xxfi_envfrom = on_sender,
        .xxfi_envrcpt = on_recipient,
        .xxfi_header = on_header,
        .xxfi_eoh = on_end_of_header,
        .xxfi_body = on_body,
        .xxfi_eom = on_end_of_message,
        .xxfi_negotiate = on_negotiate,
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s unix:PATH | inet:PORT@HOST\n", argv[0]);
        return 2;
    }
    umask(0); /* Postfix's smtpd runs as its own user: let it connect. */
    if (smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE) {
        fprintf(stderr, "%s: cannot set up the milter on %s\n", argv[0], argv[1]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
