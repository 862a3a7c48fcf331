import Glibc

/// Seconds on the monotonic clock.
func now() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Runs `body` and returns the seconds it took.
func measure(_ body: () throws -> Void) rethrows -> Double {
  let start = now()
  try body()
  return now() - start
}
