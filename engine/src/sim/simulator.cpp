namespace uepool::sim {}
