/* HTTP dates (RFC 9110 5.6.7) and cookie dates (RFC 6265 5.1.1), with
 * our own calendar arithmetic: no timegm / gmtime_r, so no locale, time
 * zone or lock, and the same answer on every libc. */
#include "msg_int.h"

/* The proleptic Gregorian calendar in closed form (the method of Howard
 * Hinnant's "chrono-compatible low-level date algorithms": years that
 * start on 1 March, 400-year eras of 146097 days). */
int64_t weft__days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                            /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;    /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool weft__valid_date(int64_t y, unsigned m, unsigned d) {
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30,
                                            31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= (unsigned)mdays[m - 1] + (m == 2 && leap);
}

static const char days3[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                 "Thu", "Fri", "Sat"};
static const char *const days_long[7] = {"Sunday",   "Monday", "Tuesday",
                                         "Wednesday", "Thursday", "Friday",
                                         "Saturday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

ssize_t weft_http_date_write(char *buf, size_t cap, time_t t) {
    int64_t days = (int64_t)t / 86400, secs = (int64_t)t % 86400;
    if (secs < 0)
        secs += 86400, days--;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return -ERANGE;
    if (cap <= WEFT_HTTP_DATE_LEN)
        return -ENOSPC;
    /* 1970-01-01 was a Thursday */
    memcpy(buf, days3[((days % 7) + 11) % 7], 3);
    memcpy(buf + 3, ", ", 2);
    put2(buf + 5, d);
    buf[7] = ' ';
    memcpy(buf + 8, months[m - 1], 3);
    buf[11] = ' ';
    put2(buf + 12, (unsigned)(y / 100));
    put2(buf + 14, (unsigned)(y % 100));
    buf[16] = ' ';
    put2(buf + 17, (unsigned)(secs / 3600));
    buf[19] = ':';
    put2(buf + 20, (unsigned)(secs / 60 % 60));
    buf[22] = ':';
    put2(buf + 23, (unsigned)(secs % 60));
    memcpy(buf + 25, " GMT", 5); /* with the NUL */
    return WEFT_HTTP_DATE_LEN;
}

/* ---- HTTP-date --------------------------------------------------------- */

/* k digits at s, or -1. */
static int digits(const char *s, int k) {
    int v = 0;
    for (int i = 0; i < k; i++) {
        if (!weft__cc((unsigned char)s[i], WEFT__C_DIGIT))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The month named by the 3 bytes at s (case-sensitive), 1..12, or 0. */
static unsigned month3(const char *s) {
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i + 1;
    return 0;
}

static bool day3(const char *s) {
    for (int i = 0; i < 7; i++)
        if (memcmp(s, days3[i], 3) == 0)
            return true;
    return false;
}

struct tm6 {
    int64_t year;
    unsigned month, day, hour, min, sec;
};

/* "HH:MM:SS" at s. */
static bool time_of_day(const char *s, struct tm6 *tm) {
    int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
    if (h < 0 || m < 0 || sec < 0 || s[2] != ':' || s[5] != ':')
        return false;
    tm->hour = (unsigned)h;
    tm->min = (unsigned)m;
    tm->sec = (unsigned)sec;
    return true;
}

/* The seconds since the epoch of tm, range-checked with max_sec as the
 * largest second (60 lets a leap second through). */
static int to_time(const struct tm6 *tm, unsigned max_sec, time_t *out) {
    if (!weft__valid_date(tm->year, tm->month, tm->day) || tm->hour > 23 ||
        tm->min > 59 || tm->sec > max_sec)
        return -EINVAL;
    int64_t v = weft__days_from_civil(tm->year, tm->month, tm->day) * 86400 +
                tm->hour * 3600 + tm->min * 60 + tm->sec;
    if ((int64_t)(time_t)v != v)
        return -EINVAL;
    *out = (time_t)v;
    return 0;
}

/* The year of a two-digit one in an RFC 850 date: this century's, unless
 * that is more than 50 years ahead (then the last century's) or the next
 * century's is not (RFC 9110 5.6.7). */
static int64_t year2(int yy) {
    int64_t now_y;
    unsigned m, d;
    int64_t now = (int64_t)time(NULL);
    civil_from_days(now / 86400 - (now % 86400 < 0), &now_y, &m, &d);
    int64_t y = now_y - now_y % 100 + yy;
    if (y > now_y + 50)
        y -= 100;
    else if (y + 100 <= now_y + 50)
        y += 100;
    return y;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static int imf_fixdate(const char *s, size_t n, struct tm6 *tm) {
    int d = n == 29 ? digits(s + 5, 2) : -1, y = n == 29 ? digits(s + 12, 4) : -1;
    if (d < 0 || y < 0 || !day3(s) || memcmp(s + 3, ", ", 2) != 0 ||
        s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        !(tm->month = month3(s + 8)) || !time_of_day(s + 17, tm) ||
        memcmp(s + 25, " GMT", 4) != 0)
        return -EINVAL;
    tm->day = (unsigned)d;
    tm->year = y;
    return 0;
}

/* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
static int rfc850(const char *s, size_t n, struct tm6 *tm) {
    const char *comma = memchr(s, ',', n);
    size_t dl = comma ? (size_t)(comma - s) : 0;
    bool named = false;
    for (int i = 0; i < 7; i++)
        named |= dl == strlen(days_long[i]) && memcmp(s, days_long[i], dl) == 0;
    if (!named || n - dl != 24)
        return -EINVAL;
    s = comma + 1; /* " 06-Nov-94 08:49:37 GMT" */
    int d = digits(s + 1, 2), y = digits(s + 8, 2);
    if (s[0] != ' ' || d < 0 || s[3] != '-' || !(tm->month = month3(s + 4)) ||
        s[7] != '-' || y < 0 || s[10] != ' ' || !time_of_day(s + 11, tm) ||
        memcmp(s + 19, " GMT", 4) != 0)
        return -EINVAL;
    tm->day = (unsigned)d;
    tm->year = year2(y);
    return 0;
}

/* asctime-date: "Sun Nov  6 08:49:37 1994" */
static int asctime_date(const char *s, size_t n, struct tm6 *tm) {
    if (n != 24 || !day3(s) || s[3] != ' ' || !(tm->month = month3(s + 4)) ||
        s[7] != ' ' || s[10] != ' ' || !time_of_day(s + 11, tm) ||
        s[19] != ' ')
        return -EINVAL;
    int d = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
    int y = digits(s + 20, 4);
    if (d < 0 || y < 0)
        return -EINVAL;
    tm->day = (unsigned)d;
    tm->year = y;
    return 0;
}

int weft_http_date_parse(const char *s, size_t n, time_t *out) {
    struct tm6 tm;
    int r;
    if (n < 24)
        return -EINVAL;
    if (s[3] == ',')
        r = imf_fixdate(s, n, &tm);
    else if (s[3] == ' ')
        r = asctime_date(s, n, &tm);
    else
        r = rfc850(s, n, &tm);
    return r < 0 ? r : to_time(&tm, 60, out);
}

/* ---- cookie-date (RFC 6265 5.1.1) -------------------------------------- */

static bool date_delim(unsigned char c) {
    return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* 1*max DIGIT at t (len bytes) from *i, ending at the token's end or a
 * non-digit; the value, or -1. */
static int lead_digits(const char *t, size_t len, size_t *i, int min, int max) {
    int v = 0, k = 0;
    while (*i < len && weft__cc((unsigned char)t[*i], WEFT__C_DIGIT)) {
        if (++k > max)
            return -1;
        v = v * 10 + (t[(*i)++] - '0');
    }
    return k >= min ? v : -1;
}

/* hms-time ( non-digit *OCTET ) */
static bool cookie_time(const char *t, size_t len, struct tm6 *tm) {
    size_t i = 0;
    int f[3];
    for (int k = 0; k < 3; k++) {
        if (k && (i >= len || t[i++] != ':'))
            return false;
        if ((f[k] = lead_digits(t, len, &i, 1, 2)) < 0)
            return false;
    }
    tm->hour = (unsigned)f[0];
    tm->min = (unsigned)f[1];
    tm->sec = (unsigned)f[2];
    return true;
}

static int cookie_month(const char *t, size_t len) {
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (len < 3)
        return 0;
    for (int i = 0; i < 12; i++)
        if (weft__lower((unsigned char)t[0]) == names[3 * i] &&
            weft__lower((unsigned char)t[1]) == names[3 * i + 1] &&
            weft__lower((unsigned char)t[2]) == names[3 * i + 2])
            return i + 1;
    return 0;
}

int weft_cookie_date_parse(const char *s, size_t n, time_t *out) {
    struct tm6 tm = {0};
    bool found_time = false, found_day = false, found_month = false,
         found_year = false;
    int v;
    for (size_t i = 0; i < n;) {
        while (i < n && date_delim((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < n && !date_delim((unsigned char)s[i]))
            i++;
        const char *t = s + start;
        size_t len = i - start, j = 0;
        if (len == 0)
            break;
        if (!found_time && cookie_time(t, len, &tm)) {
            found_time = true;
        } else if (!found_day && (v = lead_digits(t, len, &j, 1, 2)) >= 0) {
            found_day = true;
            tm.day = (unsigned)v;
        } else if (!found_month && (v = cookie_month(t, len)) > 0) {
            found_month = true;
            tm.month = (unsigned)v;
        } else if (!found_year && (j = 0, v = lead_digits(t, len, &j, 2, 4)) >= 0) {
            found_year = true;
            tm.year = v;
        }
    }
    if (!found_time || !found_day || !found_month || !found_year)
        return -EINVAL;
    if (tm.year >= 70 && tm.year <= 99)
        tm.year += 1900;
    else if (tm.year <= 69)
        tm.year += 2000;
    if (tm.year < 1601)
        return -EINVAL;
    return to_time(&tm, 59, out);
}
