/*
 * What a board provides to the firmware's main loop (fw_main.c): the protocol
 * UART, a free-running cycle counter, an optional text console, and the stop
 * after a fault. One implementation per board in native/port/<board>/board.c.
 */
#ifndef BMS_PORT_BOARD_H
#define BMS_PORT_BOARD_H

#include <stdint.h>
#include "bms/hil_node.h"

/* Clocks, UARTs, counter. Called once, before anything else (after startup). */
void board_init(void);
/* Wait until received bytes are there (sleeping if the board can), then copy
 * up to cap of them. Returns >= 1. */
uint32_t board_read(uint8_t *buf, uint32_t cap);
/* Send len bytes on the protocol UART (blocking). */
void board_write(const uint8_t *buf, uint32_t len);
/* Received bytes lost before board_read (UART overrun, full buffer) since the
 * previous call. */
uint32_t board_take_overruns(void);
/* The cycle counter for bms_hil_board_t: read function, direction, width, kind,
 * frequency (calibration is measured by fw_main.c). */
void board_describe(bms_hil_board_t *b);
/* A line of text on the board's console (may discard it). */
void board_console(const char *text);
/* Stop after a fault was reported (the board decides how: halt, exit QEMU). */
void board_fault_stop(uint32_t pc) __attribute__((noreturn));

/* fw_main.c: called by the board's fault handler with the faulting PC. */
void fw_fault(uint32_t pc) __attribute__((noreturn));

#endif /* BMS_PORT_BOARD_H */
