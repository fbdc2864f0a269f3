/** The adapter's `debug` namespace. It logs agent lifecycle events, never packet contents. */
import createDebug from "debug";

export const weriftLog = createDebug("udpmux:werift");
