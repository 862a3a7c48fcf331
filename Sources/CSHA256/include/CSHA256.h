// SHA-256 on the x86 SHA extensions (SHA-NI), for VaultCrypto's SHA256.
//
// libsodium's SHA-256 is portable C (about 500 MB/s here); the SHA extensions run the
// same compression function several times faster, and the audit log's Merkle tree and
// every upload's integrity receipt hash with it. VaultCrypto uses these functions only
// when csha256_is_accelerated() says the processor has the instructions, and libsodium
// otherwise: both compute the one SHA-256 of FIPS 180-4, and the tests compare them.
#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// A SHA-256 computation in progress.
typedef struct {
  uint32_t state[8];
  uint64_t length;     // bytes hashed so far
  uint8_t buffer[64];  // a partial block
  size_t buffered;
} csha256_context;

/// Whether this processor has the SHA extensions (and SSSE3 and SSE4.1, which the
/// block function also uses). Every other function requires it.
int csha256_is_accelerated(void);

void csha256_init(csha256_context *context);
void csha256_update(csha256_context *context, const uint8_t *bytes, size_t count);
/// Writes the 32-byte digest; the context must be initialized again before reuse.
void csha256_final(csha256_context *context, uint8_t digest[32]);

#endif
