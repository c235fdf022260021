package bearer

// CacheLen returns how many verified tokens v remembers.
func CacheLen(v *Verifier) int { return v.cache.len() }
