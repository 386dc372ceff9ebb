// fcontext_peer.cpp - the peer of bench/switch.c: boost.context's
// fcontext, the raw context switch of Boost.Context, used through its
// public (if "detail") API: make_fcontext / jump_fcontext.
//
// Two contexts ping-pong: the caller's and one fcontext. Every
// jump_fcontext is one switch; n switches are timed (n rounded down to an
// even number: each loop round is a jump there and a jump back).
#include <boost/context/detail/fcontext.hpp>

#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace bctx = boost::context::detail;

namespace {

void pong(bctx::transfer_t t) {
    for (;;)
        t = bctx::jump_fcontext(t.fctx, nullptr);
}

std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

} // namespace

// Returns the elapsed nanoseconds for n switches, or 0 on failure.
extern "C" std::uint64_t fcontext_pingpong_ns(std::uint64_t n) {
    const std::size_t size = 64 * 1024;
    void *stack = std::malloc(size);
    if (!stack)
        return 0;
    bctx::fcontext_t c =
        bctx::make_fcontext(static_cast<char *>(stack) + size, size, pong);
    // Start the context (untimed): it returns to us at once.
    c = bctx::jump_fcontext(c, nullptr).fctx;
    std::uint64_t rounds = n / 2;
    std::uint64_t t0 = now_ns();
    for (std::uint64_t i = 0; i < rounds; i++)
        c = bctx::jump_fcontext(c, nullptr).fctx;
    std::uint64_t t1 = now_ns();
    // pong never returns; its stack holds nothing that needs unwinding.
    std::free(stack);
    return t1 - t0;
}
