/*
 * Tests for server/respond.c and landing.c without a daemon: ownership of
 * what a response took over, header validation, error bodies, and the
 * landing page's escaping.
 */
#include "compat.h"

#include <fcntl.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "err.h"
#include "server.h"
#include "xalloc.h"

static int freed;

static void count_free(void *ctx)
{
    freed++;
    free(ctx);
}

static ssize_t never_read(void *ctx, uint64_t pos, char *buf, size_t max, struct srv_waker *w)
{
    UNUSED(w);
    UNUSED(ctx);
    UNUSED(pos);
    UNUSED(buf);
    UNUSED(max);
    cr_assert_fail("reader called");
    return SRV_READ_ERROR;
}

Test(respond, free_releases_what_was_taken)
{
    int fd = open("/dev/null", O_RDONLY);
    struct srv_response *r;

    cr_assert_geq(fd, 0);
    r = srv_response_new_fd(200, fd, 0, 0);
    srv_response_free(r);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "fd was closed");

    freed = 0;
    r = srv_response_new_callback(200, -1, never_read, xmalloc(8), count_free);
    srv_response_free(r);
    cr_assert_eq(freed, 1);

    r = srv_response_new_buf(200, "text/plain", xstrdup("x"), 1);
    srv_response_free(r);
    srv_response_free(NULL);
}

Test(respond, header_validation)
{
    struct srv_response *r = srv_response_new_buf(204, NULL, NULL, 0);

    cr_assert_eq(srv_response_status(r), 204);
    cr_assert_eq(srv_response_add_header(r, "ETag", "\"abc\""), 0);
    cr_assert_eq(srv_response_add_header(r, "Vary", "Accept, Accept-Encoding"), 0);
    cr_assert_eq(srv_response_add_header(r, "", "x"), IMX_EINVAL);
    cr_assert_eq(srv_response_add_header(r, "X:Y", "x"), IMX_EINVAL);
    cr_assert_eq(srv_response_add_header(r, "X-A", "line\nbreak"), IMX_EINVAL);
    cr_assert_eq(srv_response_add_header(r, "transfer-encoding", "chunked"), IMX_EINVAL);
    srv_response_free(r);
}

Test(landing, no_config)
{
    size_t len;
    char *page = srv_landing_render(NULL, "http://x", &len);

    cr_assert_eq(strlen(page), len);
    cr_assert(strstr(page, "No views are configured."));
    free(page);
}

Test(landing, escapes_the_base_url)
{
    char name[] = "v";
    struct config_view view = {.name = name};
    struct config cfg = {.views = &view, .nviews = 1};
    size_t len;
    char *page = srv_landing_render(&cfg, "https://a<b>&\"c", &len);

    cr_assert_null(strstr(page, "a<b>"));
    cr_assert(strstr(page, "https://a&lt;b&gt;&amp;&quot;c/v/simple/"), "%s", page);
    cr_assert(strstr(page, "url = \"https://a&lt;b&gt;&amp;\\&quot;c/v/simple/\""),
              "TOML-escaped quote: %s", page);
    free(page);
}
