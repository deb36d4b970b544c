#ifndef FHIRGATE_CHIREDIS_SHIM_H
#define FHIRGATE_CHIREDIS_SHIM_H
// Only the reader and the command formatter are used; never hiredis's socket calls.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
