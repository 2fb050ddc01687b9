/* Kept for existing includes: the one secret-memory type lives in base/. */
#pragma once

#include "base/secbuf.h"
