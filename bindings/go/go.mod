module uepool

go 1.19
