package dev.walkeeper.protocol.wal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** WAL integers are stored in the byte order of the x86 machines that write them. */
final class LittleEndian {
    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private LittleEndian() {
    }

    static int uint16(byte[] bytes, int at) {
        return (short) SHORT.get(bytes, at) & 0xFFFF;
    }

    static int int32(byte[] bytes, int at) {
        return (int) INT.get(bytes, at);
    }

    static long int64(byte[] bytes, int at) {
        return (long) LONG.get(bytes, at);
    }

    static void putInt16(byte[] bytes, int at, int value) {
        SHORT.set(bytes, at, (short) value);
    }

    static void putInt32(byte[] bytes, int at, int value) {
        INT.set(bytes, at, value);
    }

    static void putInt64(byte[] bytes, int at, long value) {
        LONG.set(bytes, at, value);
    }
}
