/* rng.h - the trainer's random numbers: xoshiro256** seeded by splitmix64, normals by Box-Muller.
 * The whole state is four words, saved in checkpoints so a resumed run draws the same numbers. */
#ifndef SPINDLE_TRAIN_RNG_H
#define SPINDLE_TRAIN_RNG_H

#include <stdint.h>

typedef struct train_rng { uint64_t s[4]; } train_rng;

void rng_seed(train_rng *r, uint64_t seed);
uint64_t rng_u64(train_rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float rng_uniform(train_rng *r);
float rng_normal(train_rng *r);

#endif
