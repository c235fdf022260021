package idp

// SetBeforeHash makes every Hash and Verify call f while it holds a hashing slot. Tests only:
// set it before the hasher is in use.
func (h *PasswordHasher) SetBeforeHash(f func()) { h.beforeHash = f }
