# cmake --install: the C API (header, libuepool.so, a CMake package and a
# pkg-config file) and the uepool tool. The C++ layers are not installed:
# a C++ embedding builds them with its own tree (add_subdirectory).
include(CMakePackageConfigHelpers)
install(TARGETS uepool_capi EXPORT uepool-targets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/engine/include/uepool/uepool.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/uepool)
install(TARGETS uepool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/tools/demo/demo.py DESTINATION ${CMAKE_INSTALL_DATADIR}/uepool)  # uepool demo
if(UEPOOL_BUILD_BENCH)  # uepool bench runs these two
  install(TARGETS uepool-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(PROGRAMS ${PROJECT_SOURCE_DIR}/perf/compare DESTINATION ${CMAKE_INSTALL_DATADIR}/uepool)
endif()
install(EXPORT uepool-targets NAMESPACE uepool:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepool)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/uepool-config.cmake.in
                              ${PROJECT_BINARY_DIR}/uepool-config.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepool)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/uepool-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)  # 0.x: each minor version may change the API
install(FILES ${PROJECT_BINARY_DIR}/uepool-config.cmake ${PROJECT_BINARY_DIR}/uepool-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uepool)
file(RELATIVE_PATH UEPOOL_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)  # ../.. (lib/x86_64-linux-gnu: ../../..)
configure_file(${PROJECT_SOURCE_DIR}/cmake/uepool.pc.in ${PROJECT_BINARY_DIR}/uepool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/uepool.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
