/* The llhttp fixtures weft's parser disagrees with, and why: the table of
 * docs/http1-conformance.md (test_http1_fixtures --table prints it). Each
 * case is matched by file and heading path. Included by
 * test_http1_fixtures.c. */
static const struct known known[] = {
    {"request/sample.md", "No HTTP version",
     "HTTP/0.9 (no version): weft speaks HTTP/1.0 and 1.1 only (400, 505 for "
     "other versions)"},
    {"request/sample.md", "Line folding in header value with CRLF",
     "llhttp lenient mode: obs-fold in a request; weft rejects it (RFC 9112 "
     "5.2 lets a server reject; a proxy may read the line differently)"},
    {"request/sample.md", "No LF after CR (lenient)",
     "llhttp lenient mode: CR not followed by LF; weft rejects a bare CR (RFC "
     "9112 2.2)"},
    {"request/sample.md", "X-SSL-Nonsense",
     "llhttp lenient mode: obs-fold in a request; weft rejects it (RFC 9112 "
     "5.2 lets a server reject; a proxy may read the line differently)"},
    {"request/lenient-headers.md", "Header value (lenient)",
     "llhttp lenient mode: a control character in a field value; weft rejects "
     "it (RFC 9110 5.5)"},
    {"request/lenient-headers.md", "Second request header value (lenient)",
     "llhttp lenient mode: a control character in a field value; weft rejects "
     "it (RFC 9110 5.5)"},
    {"request/lenient-headers.md",
     "Header value / Empty headers separated by CR (lenient)",
     "llhttp lenient mode: CR not followed by LF; weft rejects a bare CR (RFC "
     "9112 2.2)"},
    {"request/lenient-header-value-relaxed.md",
     "Control char in header value (relaxed)",
     "llhttp lenient mode: a control character in a field value; weft rejects "
     "it (RFC 9110 5.5)"},
    {"request/lenient-version.md", "Invalid HTTP version (lenient)",
     "llhttp lenient mode: any HTTP version; weft answers 505"},
    {"request/method.md", "SOURCE request with ICE",
     "RTSP and ICE are not HTTP: weft parses HTTP/1.x only"},
    {"request/method.md", "OPTIONS request with RTSP",
     "RTSP and ICE are not HTTP: weft parses HTTP/1.x only"},
    {"request/method.md", "ANNOUNCE request with RTSP",
     "RTSP and ICE are not HTTP: weft parses HTTP/1.x only"},
    {"request/method.md", "PRI request HTTP2",
     "llhttp stops at PRI as an HTTP/2 upgrade; weft parses 'PRI * HTTP/1.1' "
     "as a request with an unknown method, and the HTTP/2 preface's 'SM' line "
     "is malformed (the real preface says HTTP/2.0: 505)"},
    {"request/connection.md",
     "`keep-alive` / Resetting flags when keep-alive is off (1.0, lenient)",
     "llhttp lenient mode: reading on after a message that closes the "
     "connection; weft stops there (the server closes)"},
    {"request/connection.md",
     "`close` / CRLF between requests, explicit `close` (lenient)",
     "llhttp lenient mode: reading on after a message that closes the "
     "connection; weft stops there (the server closes)"},
    {"request/connection.md",
     "Parsing multiple tokens / Multiple tokens with folding",
     "llhttp lenient mode: obs-fold in a request; weft rejects it (RFC 9112 "
     "5.2 lets a server reject; a proxy may read the line differently)"},
    {"request/connection.md",
     "Parsing multiple tokens / Multiple tokens with folding, LWS, and CRLF",
     "llhttp lenient mode: obs-fold in a request; weft rejects it (RFC 9112 "
     "5.2 lets a server reject; a proxy may read the line differently)"},
    {"request/connection.md",
     "Parsing multiple tokens / Invalid whitespace token with `Connection` "
     "header field (lenient)",
     "llhttp lenient mode: whitespace before a request field's colon; weft "
     "rejects it (RFC 9112 5.1: MUST 400)"},
    {"request/content-length.md",
     "Invalid whitespace token with `Content-Length` header field (lenient)",
     "llhttp lenient mode: whitespace before a request field's colon; weft "
     "rejects it (RFC 9112 5.1: MUST 400)"},
    {"request/content-length.md",
     "No error on simultaneous `Content-Length` and `Transfer-Encoding: "
     "identity` (lenient)",
     "llhttp lenient mode: Content-Length with Transfer-Encoding in a request; "
     "weft rejects it (RFC 9112 6.3: a smuggling attempt)"},
    {"request/content-length.md", "Missing CRLF-CRLF before body (lenient)",
     "llhttp lenient mode: CR not followed by LF; weft rejects a bare CR (RFC "
     "9112 2.2)"},
    {"request/transfer-encoding.md",
     "POST with `Transfer-Encoding` and `Content-Length` (lenient)",
     "llhttp lenient mode: Content-Length with Transfer-Encoding in a request; "
     "weft rejects it (RFC 9112 6.3: a smuggling attempt)"},
    {"request/transfer-encoding.md",
     "POST with `chunked` before other transfer-coding (lenient)",
     "llhttp lenient mode: a request Transfer-Encoding not ending in chunked; "
     "weft rejects it (RFC 9112 6.3 rule 4: MUST 400)"},
    {"request/transfer-encoding.md",
     "POST with `chunked` and duplicate transfer-encoding (lenient)",
     "llhttp lenient mode: a request Transfer-Encoding not ending in chunked; "
     "weft rejects it (RFC 9112 6.3 rule 4: MUST 400)"},
    {"request/transfer-encoding.md",
     "POST with `chunked` as last transfer-encoding",
     "weft implements no transfer coding but chunked: a request with another "
     "one is answered 501 (RFC 9112 6.1)"},
    {"request/transfer-encoding.md",
     "POST with `chunked` as last transfer-encoding (multiple headers)",
     "weft implements no transfer coding but chunked: a request with another "
     "one is answered 501 (RFC 9112 6.1)"},
    {"request/transfer-encoding.md",
     "Invalid OBS fold after chunked value / Chunk header not terminated by "
     "CRLF (lenient)",
     "llhttp lenient mode: CR not followed by LF; weft rejects a bare CR (RFC "
     "9112 2.2)"},
    {"request/transfer-encoding.md",
     "Invalid OBS fold after chunked value / Chunk data not terminated by CRLF "
     "(lenient)",
     "llhttp lenient mode: chunk data not followed by CRLF; weft rejects it "
     "(RFC 9112 7.1)"},
    {"request/transfer-encoding.md", "Space after chunk header (lenient)",
     "llhttp lenient mode: whitespace after a chunk size with no extension; "
     "weft rejects it (RFC 9112 7.1 allows BWS only before ';')"},
    {"request/invalid.md", "HTTP protocol and ANNOUNCE method",
     "any token is a method (RFC 9110 9.1); llhttp knows a fixed list. A "
     "server answers 501 to methods it does not implement"},
    {"request/invalid.md", "Headers separated by dummy characters (lenient)",
     "llhttp lenient mode: CR not followed by LF; weft rejects a bare CR (RFC "
     "9112 2.2)"},
    {"request/invalid.md", "Invalid method",
     "any token is a method (RFC 9110 9.1); llhttp knows a fixed list. A "
     "server answers 501 to methods it does not implement"},
    {"request/invalid.md",
     "Invalid space after start line / Only LFs present (lenient)",
     "llhttp lenient mode: bare LF line ends in a request; weft rejects them "
     "in requests (docs/design.md: bare LF)"},
    {"request/invalid.md",
     "Invalid space after start line / Spaces before headers (lenient)",
     "llhttp lenient mode: obs-fold in a request; weft rejects it (RFC 9112 "
     "5.2 lets a server reject; a proxy may read the line differently)"},
    {"response/sample.md", "RTSP response",
     "RTSP and ICE are not HTTP: weft parses HTTP/1.x only"},
    {"response/sample.md", "ICE response",
     "RTSP and ICE are not HTTP: weft parses HTTP/1.x only"},
    {"response/sample.md", "No carriage ret",
     "bare LF ends a line in a response: weft's lenient response policy "
     "(docs/design.md), llhttp's optional-cr-before-lf mode"},
    {"response/sample.md", "HTTP version 0.9",
     "HTTP/0.9 (no version): weft speaks HTTP/1.0 and 1.1 only (400, 505 for "
     "other versions)"},
    {"response/connection.md",
     "HTTP/1.1 with keep-alive disabled, content-length (lenient)",
     "llhttp lenient mode: reading on after a message that closes the "
     "connection; weft stops there (the server closes)"},
    {"response/connection.md",
     "HTTP/1.1 with keep-alive disabled and 204 status (lenient)",
     "llhttp lenient mode: reading on after a message that closes the "
     "connection; weft stops there (the server closes)"},
    {"response/transfer-encoding.md", "Invalid OBS fold after chunked value",
     "weft unfolds obs-fold in responses (RFC 9112 5.2), and 'chunked  abc' is "
     "then a malformed Transfer-Encoding: an error, where llhttp reads until "
     "close"},
    {"response/invalid.md", "Bare CR after response line (lenient)",
     "llhttp lenient mode: CR not followed by LF in a response; weft rejects a "
     "bare CR"},
    {"response/invalid.md",
     "Invalid space after start line / Only LFs present and no body",
     "bare LF ends a line in a response: weft's lenient response policy "
     "(docs/design.md), llhttp's optional-cr-before-lf mode"},
    {"response/invalid.md", "Invalid space after start line / Only LFs present",
     "bare LF ends a line in a response: weft's lenient response policy "
     "(docs/design.md), llhttp's optional-cr-before-lf mode"},
    {"response/lenient-version.md", "Invalid HTTP version (lenient)",
     "llhttp lenient mode: any HTTP version; weft answers 505"},
};
