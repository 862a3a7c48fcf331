// SHA-256 (FIPS 180-4) with the x86 SHA extensions. The block function follows the
// instruction sequence Intel documents for them ("Intel SHA Extensions", 2013): four
// rounds per pair of sha256rnds2, the message schedule by sha256msg1/sha256msg2.
#include "CSHA256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t round_constants[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int csha256_is_accelerated(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  const int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  const int sha = (ebx >> 29) & 1;
  return ssse3 && sse41 && sha;
}

/// Runs the compression function over `blocks` 64-byte blocks of `data`.
__attribute__((target("sha,ssse3,sse4.1")))
static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
  // Big-endian words: reverse the bytes of each 32-bit lane.
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  // The instructions want the state as ABEF and CDGH.
  __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
  __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
  __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

  // Written out in full rather than as a loop over the 16 groups: with the schedule in
  // four named registers the compiler keeps everything in registers and overlaps the
  // schedule of later groups with the rounds of earlier ones (about 20% faster than
  // the loop, which it did not unroll).
  while (blocks--) {
    const __m128i abef_before = abef, cdgh_before = cdgh;
    // The schedule's last 16 words, four per vector.
    __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 0)), byte_swap);
    __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16)), byte_swap);
    __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 32)), byte_swap);
    __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 48)), byte_swap);
    __m128i message;
// Four rounds of group `group`, whose words are `w`.
#define ROUNDS(w, group)                                                                 \
  message = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&round_constants[4 * (group)])); \
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, message);                                     \
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(message, 0x0E));
// The next four words into `w16` (which holds W[t-16..t-13]): from W[t-16] (sigma0 of
// W[t-15] by msg1), W[t-7] (from w8 and w4) and sigma1 of W[t-2] (msg2).
#define SCHEDULE(w16, w12, w8, w4) \
  w16 = _mm_sha256msg2_epu32(      \
      _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4)), w4);
    ROUNDS(w0, 0) ROUNDS(w1, 1) ROUNDS(w2, 2) ROUNDS(w3, 3)
    SCHEDULE(w0, w1, w2, w3) ROUNDS(w0, 4)
    SCHEDULE(w1, w2, w3, w0) ROUNDS(w1, 5)
    SCHEDULE(w2, w3, w0, w1) ROUNDS(w2, 6)
    SCHEDULE(w3, w0, w1, w2) ROUNDS(w3, 7)
    SCHEDULE(w0, w1, w2, w3) ROUNDS(w0, 8)
    SCHEDULE(w1, w2, w3, w0) ROUNDS(w1, 9)
    SCHEDULE(w2, w3, w0, w1) ROUNDS(w2, 10)
    SCHEDULE(w3, w0, w1, w2) ROUNDS(w3, 11)
    SCHEDULE(w0, w1, w2, w3) ROUNDS(w0, 12)
    SCHEDULE(w1, w2, w3, w0) ROUNDS(w1, 13)
    SCHEDULE(w2, w3, w0, w1) ROUNDS(w2, 14)
    SCHEDULE(w3, w0, w1, w2) ROUNDS(w3, 15)
#undef SCHEDULE
#undef ROUNDS
    abef = _mm_add_epi32(abef, abef_before);
    cdgh = _mm_add_epi32(cdgh, cdgh_before);
    data += 64;
  }

  // Back to DCBA and HGFE.
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

#else

int csha256_is_accelerated(void) { return 0; }

// Never called: VaultCrypto checks csha256_is_accelerated() first.
static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
  (void)state;
  (void)data;
  (void)blocks;
  __builtin_trap();
}

#endif

void csha256_init(csha256_context *context) {
  static const uint32_t initial[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  };
  memcpy(context->state, initial, sizeof initial);
  context->length = 0;
  context->buffered = 0;
}

void csha256_update(csha256_context *context, const uint8_t *bytes, size_t count) {
  context->length += count;
  if (context->buffered > 0) {
    const size_t take = count < 64 - context->buffered ? count : 64 - context->buffered;
    memcpy(context->buffer + context->buffered, bytes, take);
    context->buffered += take;
    bytes += take;
    count -= take;
    if (context->buffered < 64) return;
    compress(context->state, context->buffer, 1);
    context->buffered = 0;
  }
  if (count >= 64) {
    compress(context->state, bytes, count / 64);
    bytes += count / 64 * 64;
    count %= 64;
  }
  if (count > 0) {
    memcpy(context->buffer, bytes, count);
    context->buffered = count;
  }
}

void csha256_final(csha256_context *context, uint8_t digest[32]) {
  const uint64_t bits = context->length * 8;
  // The padding: 0x80, zeros, then the length in bits, big-endian, ending a block.
  uint8_t padding[72] = {0x80};
  const size_t zeros = (context->buffered < 56 ? 56 : 120) - context->buffered;
  for (int index = 0; index < 8; index++) {
    padding[zeros + index] = (uint8_t)(bits >> (56 - 8 * index));
  }
  const uint64_t length = context->length;
  csha256_update(context, padding, zeros + 8);
  context->length = length;
  for (int index = 0; index < 8; index++) {
    const uint32_t word = context->state[index];
    digest[4 * index] = (uint8_t)(word >> 24);
    digest[4 * index + 1] = (uint8_t)(word >> 16);
    digest[4 * index + 2] = (uint8_t)(word >> 8);
    digest[4 * index + 3] = (uint8_t)word;
  }
  memset(context, 0, sizeof *context);
}
