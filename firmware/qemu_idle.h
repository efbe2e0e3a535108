// The emulated board's idle: sleep the CPU until the next interrupt (SysTick, every 1 ms) while
// MicroPython waits for an event (select.poll with a timeout), as the ports for real chips do (stm32:
// __WFI). MicroPython's QEMU port busy-waits instead, and the emulator would hold a host core all the time.
// Passed to the QEMU port's build as CFLAGS_EXTRA="-include .../qemu_idle.h" (hil/qemu_firmware.py); only
// for the Cortex-M3 build (the host's mpy-cross build sees the same flags).
#if defined(__arm__) && defined(__ARM_ARCH_7M__)
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) __asm volatile ("wfi")
#endif
