# R2: build-time precompiled default seccomp filter (included by runtime/CMakeLists.txt
# right after the sdruntime target is defined).
#
# secretd_seccomp_gen compiles the built-in default allow-list for Docker's default
# capability set with libseccomp on the build machine and writes the BPF as a C array
# (rt_seccomp_default_bpf.c in the build tree), which is added to sdruntime. When cross
# compiling, a placeholder that never matches is written instead and the runtime compiles
# and caches the default on first use.
set(_rt_scmp_dir ${CMAKE_CURRENT_LIST_DIR})
set(_rt_scmp_out ${CMAKE_CURRENT_BINARY_DIR}/rt_seccomp_default_bpf.c)

# caps.c: Docker's default capability set has its one definition there.
add_executable(secretd_seccomp_gen ${_rt_scmp_dir}/seccomp_gen.c
               ${_rt_scmp_dir}/seccomp_default.c ${_rt_scmp_dir}/seccomp_profile.c
               ${_rt_scmp_dir}/caps.c)
target_include_directories(secretd_seccomp_gen PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(secretd_seccomp_gen PRIVATE PkgConfig::SECCOMP PkgConfig::JSONC
                      PkgConfig::LIBCAP)

if(CMAKE_CROSSCOMPILING)
  set(_rt_scmp_args --empty)
else()
  set(_rt_scmp_args)
endif()
add_custom_command(OUTPUT ${_rt_scmp_out}
  COMMAND secretd_seccomp_gen ${_rt_scmp_out} ${_rt_scmp_args}
  DEPENDS secretd_seccomp_gen
  COMMENT "Precompiling the default seccomp filter"
  VERBATIM)
target_sources(sdruntime PRIVATE ${_rt_scmp_out})
