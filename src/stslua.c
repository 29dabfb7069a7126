#include "sts.h"
#include <stdio.h>
int main(void){lua_State *L = luaL_newstate(); (void)L; puts("todo"); return 0;}
