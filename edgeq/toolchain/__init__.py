"""Toolchains: building generated sources: host C compiler for `native`, arm-none-eabi-gcc for MCU boards."""
