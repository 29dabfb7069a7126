/* placeholder until this part is written: registers nothing */
#include "sts.h"

int sts_open_loop(lua_State *L) {
  (void)L;
  return 0;
}
