// Cache-line round trip between the two first CPUs: how long a row written on one core takes
// to reach the other. On the 2-vCPU VMs here it is ~90 ns or ~450 ns depending on where the
// host has placed the vCPUs at the moment, which is why Hogwild's shared rows cost so much.
// build: gcc -O2 -pthread pingpong.c -o pingpong
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Alignas(64) atomic_int flag = 0;
enum { N = 2000000 };

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *other(void *arg) {
    (void)arg;
    pin(1);
    for (int i = 0; i < N; i++) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != 1) {}
        atomic_store_explicit(&flag, 0, memory_order_release);
    }
    return 0;
}

int main(void) {
    pthread_t t;
    struct timespec a, b;
    pin(0);
    pthread_create(&t, 0, other, 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        atomic_store_explicit(&flag, 1, memory_order_release);
        while (atomic_load_explicit(&flag, memory_order_acquire) != 0) {}
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, 0);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / N);
    return 0;
}
