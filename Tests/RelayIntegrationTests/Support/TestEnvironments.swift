// TestEnvironments.swift: the two environments every test relay is configured with.

import Foundation

enum TestEnvironments {
    static let devId = "env_dev"
    static let devKey = "tr_dev_test_key"
    static let prodId = "env_prod"
    static let prodKey = "tr_prod_test_key"
    static let prodSecondKey = "tr_prod_second_key"

    /// The value of RELAY_ENVIRONMENTS.
    static let json = """
        [{"id":"env_dev","slug":"dev","secretKeys":["tr_dev_test_key"]},\
        {"id":"env_prod","slug":"prod","secretKeys":["tr_prod_test_key","tr_prod_second_key"]}]
        """
}
